/**
 * The real service under test, started the way an operator starts it:
 * `npm start -- --from ../shared/models/organism260K --cache-dir RUN/models`
 * (scripts/start.ts supervising the Node sidecar and the Deno edge), with the
 * suite's edge config (config.ts) and a random API key, on free ports.
 *
 * Everything it writes stays in the run directory: the built model, the
 * config, the events file, and the services' own TMPDIR. npm runs in its own
 * process group (so a Ctrl-C on the terminal reaches the suite only, which
 * stops the stack itself); the sidecar and the edge are in groups of their
 * own (start.ts makes them). `stop()` is a SIGTERM to npm's group, as a
 * terminal's Ctrl-C would be, then SIGKILL of every group left after 25 s;
 * `killNow()` is the synchronous last resort for process exit.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { edgeConfig, TIMING, type Timing } from "./config.ts";
import { alive, groupMembers, signalGroup, sleep, until, waitGone } from "./procs.ts";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const DEFAULT_SOURCE = join(ROOT, "../shared/models/organism260K");

export interface StackOptions {
  /** The run's directory (removed by the runner); the stack uses RUN/stack-N/. */
  dir: string;
  /** Checkpoint the sidecar builds and serves. */
  source?: string;
  timing?: Timing;
  /** The edge's upstream (…/v1) for safe chat requests the sidecar cannot answer (upstream.ts); none if absent. */
  upstreamUrl?: string;
  /** Echo every line the services print (prefixed with "  | "). */
  echo?: (line: string) => void;
  startTimeoutMs?: number;
}

interface Line {
  at: number;
  text: string;
}

export class Stack {
  readonly key = `sk-chaos-${randomBytes(12).toString("hex")}`;
  readonly eventsPath: string;
  readonly configPath: string;
  readonly modelsDir: string;
  readonly tmpDir: string;
  readonly timing: Timing;
  url = "";
  sidecarAddress = "";
  private readonly lines: Line[] = [];
  private partial = "";
  private readonly waiters = new Set<() => void>();
  private launcher: ChildProcess | null = null;
  private launcherExit: Promise<{ code: number | null; signal: NodeJS.Signals | null }> = Promise.resolve({ code: null, signal: null });
  private stopped = false;
  /** Other processes a case started (e.g. a second npm start), each the leader of its group. */
  private readonly adopted = new Set<number>();

  constructor(private readonly opts: StackOptions) {
    this.timing = opts.timing ?? TIMING;
    mkdirSync(opts.dir, { recursive: true });
    this.eventsPath = join(opts.dir, "events.jsonl");
    this.configPath = join(opts.dir, "config.json");
    this.modelsDir = join(opts.dir, "models");
    this.tmpDir = join(opts.dir, "tmp");
    mkdirSync(this.tmpDir, { recursive: true });
    writeFileSync(this.configPath, JSON.stringify(edgeConfig(this.eventsPath, this.timing, opts.upstreamUrl), null, 2));
  }

  /** The environment the services get: free ports, our config and key, TMPDIR inside the run directory. */
  env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    return {
      ...process.env,
      PORT: "0",
      SIDECAR_PORT: "0",
      STEERGUARD_CONFIG: this.configPath,
      STEERGUARD_API_KEYS: this.key,
      NO_COLOR: "1",
      TMPDIR: this.tmpDir,
      ...extra,
    };
  }

  /** The arguments every sidecar of this run gets (npm start passes them on). */
  sidecarArgs(): string[] {
    return ["--from", this.opts.source ?? DEFAULT_SOURCE, "--cache-dir", this.modelsDir];
  }

  /** Starts npm start and waits until the edge answers /readyz 200. */
  async start(): Promise<void> {
    const child = spawn("npm", ["start", "--", ...this.sidecarArgs()], { cwd: ROOT, env: this.env(), stdio: ["ignore", "pipe", "pipe"], detached: true });
    this.launcher = child;
    this.launcherExit = new Promise((resolve) => {
      child.on("exit", (code, signal) => resolve({ code, signal }));
      child.on("error", (err) => {
        this.take(`chaos: could not run npm: ${err.message}\n`);
        resolve({ code: null, signal: null });
      });
    });
    child.stdout!.on("data", (b: Buffer) => this.take(b.toString()));
    child.stderr!.on("data", (b: Buffer) => this.take(b.toString()));
    const timeout = this.opts.startTimeoutMs ?? 120_000;
    const up = await Promise.race([
      this.waitFor(/steerguard is up: (http:\/\/\S+)\/v1 \(OpenAI-compatible; sidecar gRPC on (\S+)\)/, 0, timeout),
      this.launcherExit.then(() => null),
    ]);
    if (!up) throw new Error(`npm start exited or timed out before the service was up; its output:\n${this.tail(3_000)}`);
    this.url = up.match[1]!;
    this.sidecarAddress = up.match[2]!;
    const ready = await until(15_000, async () => ((await this.readyz()) === 200 ? true : undefined), 100);
    if (!ready) throw new Error(`the edge never reported ready; output:\n${this.tail(3_000)}`);
  }

  get edgePort(): number {
    return Number(new URL(this.url).port);
  }

  get launcherPid(): number | undefined {
    return this.launcher?.pid;
  }

  /** Every sidecar pid start.ts reported, oldest first. */
  sidecarPids(): number[] {
    return this.pids("sidecar");
  }

  /** The sidecar serving now (the latest one started). */
  sidecarPid(): number {
    const pid = this.sidecarPids().at(-1);
    if (!pid) throw new Error("no sidecar pid reported by npm start");
    return pid;
  }

  edgePid(): number | undefined {
    return this.pids("edge").at(-1);
  }

  /** Every edge pid start.ts reported, oldest first: more than one means the edge died and was restarted. */
  edgePids(): number[] {
    return this.pids("edge");
  }

  /** Signals the current sidecar's process group (SIGKILL, SIGTERM, SIGSTOP, SIGCONT). */
  signalSidecar(signal: NodeJS.Signals): number {
    const pid = this.sidecarPid();
    signalGroup(pid, signal);
    return pid;
  }

  async readyz(): Promise<number | null> {
    try {
      const res = await fetch(`${this.url}/readyz`, { signal: AbortSignal.timeout(3_000) });
      await res.arrayBuffer();
      return res.status;
    } catch {
      return null;
    }
  }

  /** A Prometheus sample of the edge's /metrics (first series of that name), or null. */
  async metric(name: string): Promise<number | null> {
    try {
      const res = await fetch(`${this.url}/metrics`, { signal: AbortSignal.timeout(3_000) });
      const text = await res.text();
      const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text);
      return m ? Number(m[1]) : null;
    } catch {
      return null;
    }
  }

  /** The output lines so far (npm, start.ts, sidecar, edge), with arrival times. */
  output(): readonly Line[] {
    return this.lines;
  }

  /** The last `chars` characters of the output. */
  tail(chars = 2_000): string {
    return (this.lines.map((l) => l.text).join("\n") + (this.partial ? `\n${this.partial}` : "")).slice(-chars);
  }

  /** The first line matching `re` that arrived at or after `since` (ms epoch); null after `timeoutMs`. */
  waitFor(re: RegExp, since: number, timeoutMs: number, signal?: AbortSignal): Promise<{ match: RegExpMatchArray; at: number } | null> {
    return new Promise((resolve) => {
      const check = () => {
        for (const l of this.lines) {
          if (l.at < since) continue;
          const match = l.text.match(re);
          if (match) return finish({ match, at: l.at });
        }
      };
      const timer = setTimeout(() => finish(null), timeoutMs);
      const onAbort = () => finish(null);
      signal?.addEventListener("abort", onAbort, { once: true });
      const finish = (v: { match: RegExpMatchArray; at: number } | null) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        signal?.removeEventListener("abort", onAbort);
        resolve(v);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Whether npm start (the launcher) is still running. */
  running(): boolean {
    return !this.stopped && this.launcher !== null && this.launcher.exitCode === null && this.launcher.signalCode === null;
  }

  /** Every process of the service that is still alive: npm's group (npm, sh, tsx, start.ts), the sidecars, the edge, and whatever a case adopted. */
  livePids(): number[] {
    const leaders = this.allPids();
    return [...new Set([...leaders, ...leaders.flatMap(groupMembers)])].filter(alive);
  }

  /** Makes `pid` (a group leader a case started) part of the cleanup. */
  adopt(pid: number): void {
    this.adopted.add(pid);
  }

  /** Resolves when npm (the launcher) has exited. */
  launcherExited() {
    return this.launcherExit;
  }

  /**
   * Stops the stack: SIGTERM to npm's process group (npm, sh, tsx and
   * start.ts, which stops the edge and then the sidecar), SIGKILL to every
   * group still there after `graceMs`. Resolves with how long it took and
   * what had to be killed.
   */
  async stop(graceMs = 25_000): Promise<{ ms: number; killed: number[] }> {
    const t = Date.now();
    this.stopped = true;
    for (const pid of this.sidecarPids()) if (alive(pid)) signalGroup(pid, "SIGCONT");
    const npm = this.launcher?.pid;
    if (npm && (alive(npm) || groupMembers(npm).length)) signalGroup(npm, "SIGTERM");
    const left = await waitGone(this.livePids(), graceMs);
    for (const pid of left) {
      signalGroup(pid, "SIGKILL");
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone
      }
    }
    if (left.length) await waitGone(left, 5_000);
    await Promise.race([this.launcherExit, sleep(2_000)]);
    return { ms: Date.now() - t, killed: left };
  }

  /** Marks the stack stopped by a case (it stopped the service itself). */
  markStopped(): void {
    this.stopped = true;
  }

  /** Synchronous last resort (process exit): SIGCONT + SIGKILL to every group still alive. */
  killNow(): void {
    for (const pid of this.allPids()) {
      if (!alive(pid) && groupMembers(pid).length === 0) continue;
      signalGroup(pid, "SIGCONT");
      signalGroup(pid, "SIGKILL");
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone
      }
    }
  }

  private allPids(): number[] {
    return [this.launcher?.pid, ...this.sidecarPids(), ...this.pids("edge"), ...this.adopted].filter((p): p is number => !!p);
  }

  private pids(name: "sidecar" | "edge"): number[] {
    const re = new RegExp(`^start: ${name} pid (\\d+)`);
    return this.lines.map((l) => re.exec(l.text)?.[1]).filter((p): p is string => !!p).map(Number);
  }

  private take(text: string): void {
    const parts = (this.partial + text).split("\n");
    this.partial = parts.pop()!;
    const at = Date.now();
    for (const p of parts) {
      this.lines.push({ at, text: p });
      this.opts.echo?.(p);
    }
    for (const w of [...this.waiters]) w();
  }
}
