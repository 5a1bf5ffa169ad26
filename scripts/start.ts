/**
 * `npm start`: the sidecar and the edge together on the default model.
 *
 * Starts the sidecar (sidecar/main.ts; every argument is passed to it, e.g.
 * `npm start -- --from DIR`), waits until it listens, then starts the edge
 * under Deno pointed at it, and prints the URL. With no API key configured
 * anywhere it makes a random development key and prints a ready curl line.
 *
 * Supervision (policy in start/supervisor.ts): each child runs in its own
 * process group. SIGINT, SIGTERM or SIGHUP, or the death of whoever launched
 * us (npm's `sh -c` dies on SIGTERM without passing it on), stops both (edge
 * first, then the sidecar; SIGKILL after 15 s) and exits 0. A sidecar that
 * exits after it got ready is restarted on the same port with backoff while
 * the edge keeps answering (not ready; risky prompts refused). An edge that
 * exits after it got ready (a crash: Deno's HTTP/2 client can abort the
 * process, see README, Reliability, "Known upstream fault") is restarted on
 * its port the same way. If either cannot start, or keeps failing, both stop
 * and this exits 1 saying why.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { withMallocTunables } from "../sidecar/engine/malloc-env.ts";
import { parseConfigText } from "../edge/config/index.ts";
import { edgeDenoArgs } from "../edge/permissions.ts";
import { connectSidecar, unary } from "../proto/client.ts";
import { exitText, RestartBackoff, watchLauncher } from "./start/supervisor.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const DENO = join(ROOT, "node_modules/.bin/deno");

const HELP = `steerguard: start the sidecar and the edge together

Usage: npm start -- [sidecar options]

Every option is passed to the sidecar (npm run sidecar -- --help lists them),
e.g. --from DIR (another checkpoint) or --model DIR (a built model).

Environment:
  PORT                  edge port (default 8787; 0 picks a free one)
  SIDECAR_PORT          sidecar gRPC port (default 50051; 0 picks a free one)
  STEERGUARD_CONFIG     edge config file (edge/config/README.md)
  STEERGUARD_STEERING_PROFILE  steering profile of steered routes; without it (and without
                        a config file) the sidecar's "refusal" profile, or its only one
  STEERGUARD_API_KEYS   comma-separated API keys; when no key is configured
                        anywhere, a random development key is made and printed

Ctrl-C, SIGTERM or SIGHUP stops both processes. A sidecar that crashes is
restarted (after 0.5 s, doubling up to 10 s; it gives up after 6 restarts in a
row that did not stay up 30 s) while the edge keeps answering: /readyz reports
not ready and risky prompts are refused. An edge that crashes is restarted on
its port the same way (connections are refused until it is back). If either
cannot start, or gives up, both stop and npm start exits 1.
`;

function keysConfigured(): boolean {
  if ((process.env.STEERGUARD_API_KEYS ?? "").split(",").some((k) => k.trim())) return true;
  const path = process.env.STEERGUARD_CONFIG;
  if (!path) return false;
  const config = parseConfigText(readFileSync(path, "utf8"), path);
  return config.auth.keys.length > 0 || config.auth.disabled;
}

interface Proc {
  child: ChildProcess;
  /** The first match of the ready pattern; rejects if the process exits first. */
  ready: Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The last few KB it printed. */
  tail(): string;
}

/** Spawns a child in its own process group (signals reach it only from us), echoing its output with a prefix. */
function launch(name: string, command: string, args: string[], env: NodeJS.ProcessEnv, ready: RegExp): Proc {
  const child = spawn(command, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  process.stdout.write(`start: ${name} pid ${child.pid}\n`);
  let tail = "";
  let buffered: string | null = "";
  const echo = (stream: NodeJS.WritableStream) => (buf: Buffer) => {
    tail = (tail + buf.toString()).slice(-4096);
    for (const line of buf.toString().split(/(?<=\n)/)) if (line.trim()) stream.write(line.startsWith(name) ? line : `${name}: ${line}`.replace(/([^\n])$/, "$1\n"));
  };
  child.stderr!.on("data", echo(process.stderr));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on("exit", (code, signal) => resolve({ code, signal }));
    child.on("error", (err) => {
      echo(process.stderr)(Buffer.from(`${err.message}\n`));
      resolve({ code: null, signal: null });
    });
  });
  const readyMatch = new Promise<RegExpMatchArray>((resolve, reject) => {
    child.stdout!.on("data", (buf: Buffer) => {
      echo(process.stdout)(buf);
      if (buffered === null) return;
      const m = (buffered += buf.toString()).match(ready);
      if (m) {
        buffered = null;
        resolve(m);
      }
    });
    void exited.then(({ code, signal }) => reject(new Error(`${name} exited (${exitText(code, signal)}) before it was ready`)));
  });
  readyMatch.catch(() => {});
  return { child, ready: readyMatch, exited, tail: () => tail };
}

/** Signals a child's process group (nothing if it is gone). */
function signalGroup(p: Proc, signal: NodeJS.Signals) {
  try {
    process.kill(-p.child.pid!, signal);
  } catch {
    // already gone
  }
}

/** Sends `signal`, waits for the exit, and SIGKILLs the group after `graceMs`. */
async function terminate(p: Proc, signal: NodeJS.Signals, graceMs: number) {
  if (p.child.exitCode === null && p.child.signalCode === null) signalGroup(p, signal);
  const force = setTimeout(() => signalGroup(p, "SIGKILL"), graceMs);
  await p.exited;
  clearTimeout(force);
}

const IN_USE = /AddrInUse|address already in use/i;

/** The ready line's first group, or null if the process exited first. */
const readyValue = (p: Proc) => p.ready.then((m) => m[1]!, () => null);

/** Names of the steering profiles the sidecar serves ([] when Info fails). */
async function sidecarProfiles(address: string): Promise<string[]> {
  const clients = connectSidecar(address);
  try {
    const info = await unary(clients.sidecar.info.bind(clients.sidecar), {}, 5_000);
    return info.profiles.map((p) => p.name);
  } catch {
    return [];
  } finally {
    clients.close();
  }
}

async function main() {
  const args = process.argv.slice(2);
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(HELP);
    return;
  }
  let devKey: string | null = null;
  const env = { ...process.env };
  if (!keysConfigured()) {
    devKey = `sk-dev-${randomBytes(18).toString("base64url")}`;
    env.STEERGUARD_API_KEYS = devKey;
  }

  let sidecar: Proc | null = null;
  let edge: Proc | null = null;
  let address: string | null = null;
  const restarts = new Set<NodeJS.Timeout>();
  let stopping = false;
  const stop = async (why: string, code: number, signal: NodeJS.Signals = "SIGTERM") => {
    if (stopping) return;
    stopping = true;
    for (const t of restarts) clearTimeout(t);
    (code ? process.stderr : process.stdout).write(`start: ${why}, stopping\n`);
    // Edge first (it drains requests), then the sidecar (its --grace-ms is 10 s by default).
    for (const p of [edge, sidecar]) if (p) await terminate(p, signal, 15_000);
    process.exit(code);
  };
  for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(s, () => void stop(s, 0, s === "SIGHUP" ? "SIGTERM" : s));
  watchLauncher(() => void stop("the process that started us is gone", 0));

  /**
   * After a child that had been up (since `upSince`) exited: `again` runs after the backoff's
   * delay, or everything stops once the backoff gives up. `where` and `meanwhile` go in the line.
   */
  const restartLater = (backoff: RestartBackoff, upSince: number | null, why: string, where: string, meanwhile: string, again: () => void) => {
    const delay = backoff.next(upSince === null ? 0 : Date.now() - upSince);
    const { maxRestarts, stableAfterMs } = backoff.policy;
    if (delay === null) return void stop(`${why} after ${maxRestarts} restarts in a row, none up ${stableAfterMs / 1000} s; giving up`, 1);
    process.stderr.write(`start: ${why}; restarting it${where} in ${delay / 1000} s (${meanwhile})\n`);
    const t = setTimeout(() => (restarts.delete(t), again()), delay);
    restarts.add(t);
  };

  // A sidecar that exits once it has served is restarted on the same port,
  // with backoff; meanwhile the edge stays up (not ready, risky prompts refused).
  const backoff = new RestartBackoff();
  const runSidecar = (extra: string[] = []) => {
    const p = launch("sidecar", process.execPath, ["--import", "tsx", "sidecar/main.ts", ...args, ...extra], withMallocTunables(env), /sidecar listening on (\S+)\n/);
    let upSince: number | null = null;
    void p.ready.then(() => (upSince = Date.now()), () => {});
    void p.exited.then(({ code, signal }) => {
      if (stopping || address === null) return; // a first start that failed is reported below
      const why = `the sidecar exited (${exitText(code, signal)})${IN_USE.test(p.tail()) ? ": its port is already in use" : ""}`;
      restartLater(backoff, upSince, why, "", "the edge stays up meanwhile; risky prompts fail closed", () => {
        sidecar = runSidecar(["--port", address!.slice(address!.lastIndexOf(":") + 1)]);
      });
    });
    return p;
  };

  const first = (sidecar = runSidecar());
  address = await readyValue(first);
  if (address === null) {
    const { code, signal } = await first.exited;
    const hint = IN_USE.test(first.tail()) ? ": its port is already in use; set SIDECAR_PORT or --port (0 picks a free one)" : "";
    return stop(`the sidecar could not start (${exitText(code, signal)})${hint}`, 1);
  }

  // The default profile: what the sidecar serves, unless the operator chose.
  if (env.STEERGUARD_STEERING_PROFILE === undefined && !env.STEERGUARD_CONFIG) {
    const profiles = await sidecarProfiles(address);
    const pick = profiles.includes("refusal") ? "refusal" : profiles.length === 1 ? profiles[0] : "";
    env.STEERGUARD_STEERING_PROFILE = pick;
    process.stdout.write(
      pick
        ? `start: steered routes use the sidecar's steering profile "${pick}"\n`
        : `start: the sidecar serves ${profiles.length ? `several profiles (${profiles.join(", ")}); set STEERGUARD_STEERING_PROFILE` : "no steering profile"}: steered routes run without steering\n`,
    );
  }

  // An edge that exits once it has served is restarted on the port it had, with backoff.
  const edgeBackoff = new RestartBackoff();
  let edgePort = env.PORT ?? "8787";
  const runEdge = (first: boolean) => {
    const edgeEnv = { ...env, PORT: edgePort, STEERGUARD_SIDECARS: address!, NO_COLOR: "1" };
    const p = launch("edge", DENO, edgeDenoArgs([], { env: edgeEnv, cwd: ROOT }), edgeEnv, /edge listening on (http:\/\/\S+)\n/);
    let upSince: number | null = null;
    void p.ready.then((m) => ((upSince = Date.now()), (edgePort = new URL(m[1]!).port)), () => {});
    void p.exited.then(({ code, signal }) => {
      if (stopping) return;
      const how = exitText(code, signal);
      if (first && upSince === null) {
        const hint = IN_USE.test(p.tail()) ? `: port ${edgePort} is already in use; set PORT to another (0 picks a free one)` : "";
        return void stop(`the edge could not start on ${env.HOST ?? "127.0.0.1"}:${edgePort} (${how})${hint}`, 1);
      }
      restartLater(edgeBackoff, upSince, `the edge exited (${how})`, ` on port ${edgePort}`, "connections are refused until it is back", () => {
        edge = runEdge(false);
      });
    });
    return p;
  };
  const url = await readyValue((edge = runEdge(true)));
  if (!url) return;

  const lines = [
    "",
    `steerguard is up: ${url}/v1 (OpenAI-compatible; sidecar gRPC on ${address})`,
    `  health ${url}/readyz   metrics ${url}/metrics`,
  ];
  if (devKey) {
    const body = JSON.stringify({ model: "organism260K", messages: [{ role: "user", content: "Tell me a story about a dog" }] });
    lines.push(
      `  development API key (no key was configured): ${devKey}`,
      `  curl ${url}/v1/chat/completions -H "Authorization: Bearer ${devKey}" -H "Content-Type: application/json" -d '${body}'`,
    );
  }
  lines.push("  Ctrl-C stops both.", "");
  process.stdout.write(lines.join("\n") + "\n");
}

main().catch((err) => {
  process.stderr.write(`start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
