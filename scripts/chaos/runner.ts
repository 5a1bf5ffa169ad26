/**
 * Runs cases against the real service: makes the run directory (under
 * TMPDIR), loads the classifier the routes are judged by (routes.ts), starts
 * the fake upstream (upstream.ts) and the stack (stack.ts), and starts a fresh one whenever a case
 * left it stopped or broken, gives each case a time limit, and always stops
 * every process and removes the run directory, also when interrupted (the
 * caller aborts `signal`) or when the process exits early (a synchronous
 * last-resort cleanup on 'exit').
 */
import { setMaxListeners } from "node:events";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "./client.ts";
import { TIMING, type Timing } from "./config.ts";
import { CASES } from "./cases/index.ts";
import { Mix } from "./mix.ts";
import { alive } from "./procs.ts";
import { Router } from "./routes.ts";
import { Stack } from "./stack.ts";
import { chaosUpstream } from "./upstream.ts";
import type { CaseContext, CaseRow, ChaosCase } from "./types.ts";

export interface RunOptions {
  /** Case names (default: all, in CASES order). */
  cases?: readonly string[];
  quick?: boolean;
  /** Seeds the spread of requests over endpoints and streaming (mix.ts); default 1. */
  seed?: number;
  /** Progress lines. */
  log?: (line: string) => void;
  /** Every line the services print (off by default). */
  echo?: (line: string) => void;
  /** Abort to interrupt: the current case stops and everything is cleaned up. */
  signal?: AbortSignal;
  timing?: Timing;
  /** Checkpoint the sidecar serves (default ../shared/models/organism260K). */
  source?: string;
}

export interface RunResult {
  rows: CaseRow[];
  /** Every goal of every case met (and the run not interrupted). */
  pass: boolean;
  interrupted: boolean;
  startedAt: string;
  durationMs: number;
  /** The run's directory under TMPDIR (removed by then). */
  runDir: string;
  /** What was still there after cleanup (should be nothing). */
  leftovers: { pids: number[]; runDir: string | null };
  timing: Timing;
  quick: boolean;
  seed: number;
  /** The classifier the expected routes came from. */
  classifier: string;
}

/** Time limit of a case: generous (a hung case is reported as one hang, not waited for). */
function caseLimitMs(c: ChaosCase, quick: boolean): number {
  return c.name === "load-ramp" ? (quick ? 90_000 : 150_000) : 120_000;
}

/** A row for a case that threw or ran past its time limit. */
function brokenRow(c: ChaosCase, why: string, hung: boolean, ms: number, interrupted = false): CaseRow {
  return {
    case: c.name,
    fault: c.fault,
    requests: 0,
    failures: interrupted ? 0 : 1,
    hangs: hung ? 1 : 0,
    eventsLost: 0,
    recoveryMs: null,
    shed: null,
    goals: [{ name: "the case ran to its end", ok: false, detail: why }],
    notes: [],
    details: { error: why },
    durationMs: ms,
    pass: false,
  };
}

/** Marks a row whose case saw the edge die: npm start's restart would hide it from the requests sent after. */
function edgeCrashed(row: CaseRow, pids: number[], gone: boolean): void {
  const detail = `edge pids ${pids.join(" -> ")}${gone ? ` (pid ${pids.at(-1)} gone)` : " (restarted by npm start)"}`;
  row.goals.push({ name: "the edge did not crash", ok: false, detail });
  row.failures++;
  row.pass = false;
}

export async function runChaos(opts: RunOptions = {}): Promise<RunResult> {
  const log = opts.log ?? (() => {});
  const quick = opts.quick ?? false;
  const seed = opts.seed ?? 1;
  const timing = opts.timing ?? TIMING;
  const names = opts.cases ?? CASES.map((c) => c.name);
  const selected = CASES.filter((c) => names.includes(c.name));
  const unknown = names.filter((n) => !CASES.some((c) => c.name === n));
  if (unknown.length) throw new Error(`unknown case(s): ${unknown.join(", ")}`);

  const t0 = Date.now();
  const startedAt = new Date(t0).toISOString();
  const router = await Router.load();
  const upstream = chaosUpstream();
  await upstream.start();
  const runDir = mkdtempSync(join(tmpdir(), "steerguard-chaos-"));
  log(`chaos: run directory ${runDir} (removed at the end)`);
  const stacks: Stack[] = [];
  const lastResort = () => {
    for (const s of stacks) s.killNow();
    rmSync(runDir, { recursive: true, force: true });
  };
  process.on("exit", lastResort);

  const rows: CaseRow[] = [];
  let stack: Stack | null = null;
  let leftPids: number[] = [];
  const outer = opts.signal ?? new AbortController().signal;
  try {
    for (const [i, c] of selected.entries()) {
      if (outer.aborted) break;
      log(`chaos: [${i + 1}/${selected.length}] ${c.name}${c.fault ? ` (issue 14 ${c.fault})` : ""}: ${c.summary}`);
      if (!stack || !stack.running()) {
        if (stack) await stack.stop();
        stack = new Stack({ dir: join(runDir, `stack-${stacks.length + 1}`), timing, echo: opts.echo, source: opts.source, upstreamUrl: upstream.url });
        stacks.push(stack);
        const ts = Date.now();
        log(`  starting the service (npm start: sidecar on organism260K, edge under Deno)`);
        try {
          const aborted = new Promise<"aborted">((resolve) => (outer.aborted ? resolve("aborted") : outer.addEventListener("abort", () => resolve("aborted"), { once: true })));
          const starting = stack.start();
          starting.catch(() => {}); // when interrupted, nobody waits for it any more
          if ((await Promise.race([starting, aborted])) === "aborted") break; // the finally stops what started
        } catch (err) {
          rows.push(brokenRow(c, `the service did not start: ${(err as Error).message}`, false, Date.now() - ts));
          log(`  could not start the service:\n${(err as Error).message}`);
          break;
        }
        log(`  up in ${((Date.now() - ts) / 1000).toFixed(1)} s: ${stack.url} (sidecar ${stack.sidecarAddress}, pid ${stack.sidecarPid()})`);
      }
      const ctl = new AbortController();
      setMaxListeners(0, ctl.signal); // one listener per request in flight
      const onOuter = () => ctl.abort();
      outer.addEventListener("abort", onOuter, { once: true });
      const ctx: CaseContext = {
        stack,
        client: new Client(stack.url, stack.key, timing, ctl.signal, router),
        timing,
        quick,
        mix: new Mix(seed, c.name),
        router,
        upstream,
        log,
        signal: ctl.signal,
      };
      const tc = Date.now();
      const edgesBefore = stack.edgePids().length;
      const limit = caseLimitMs(c, quick);
      let timer: NodeJS.Timeout | undefined;
      const overtime = new Promise<"overtime">((resolve) => (timer = setTimeout(() => resolve("overtime"), limit)));
      let got: CaseRow[];
      try {
        const r = await Promise.race([c.run(ctx), overtime]);
        if (r === "overtime") {
          ctl.abort();
          got = [brokenRow(c, `did not finish within ${limit / 1000} s`, true, Date.now() - tc)];
          await stack.stop(10_000); // whatever it left behind goes with the stack
        } else got = Array.isArray(r) ? r : [r];
      } catch (err) {
        got = [brokenRow(c, `threw: ${(err as Error).stack ?? err}`, false, Date.now() - tc)];
        if (!outer.aborted) await stack.stop(10_000); // unknown state: start afresh
      } finally {
        clearTimeout(timer);
        outer.removeEventListener("abort", onOuter);
      }
      // An interrupted case measured nothing: its requests were cut by us.
      if (outer.aborted) got = [brokenRow(c, "interrupted", false, Date.now() - tc, true)];
      // npm start restarts a crashed edge; no case means to crash it, so a restart (or an edge gone) fails the case.
      const edges = stack.edgePids();
      const gone = stack.running() && !c.stopsStack && !outer.aborted && !alive(edges.at(-1)!);
      if (edges.length > edgesBefore || gone) for (const row of got) edgeCrashed(row, edges.slice(Math.max(0, edgesBefore - 1)), gone);
      if (c.stopsStack && stack.running()) await stack.stop();
      for (const row of got) {
        rows.push(row);
        const missed = row.goals.filter((g) => !g.ok);
        log(`  ${row.pass ? "ok" : "MISSED"} ${row.case}: ${row.requests} requests, ${row.failures} failures, ${row.hangs} hangs, ${row.eventsLost} events lost (${(row.durationMs / 1000).toFixed(1)} s)`);
        for (const g of missed) log(`    missed: ${g.name}${g.detail ? ` — ${g.detail}` : ""}`);
      }
    }
  } finally {
    if (stack?.running()) {
      log(`chaos: stopping the service`);
      await stack.stop(outer.aborted ? 10_000 : 25_000);
    }
    // Anything a stopped stack left (a case's adopted process, a straggler).
    for (const s of stacks) if (s.livePids().length) await s.stop(5_000);
    leftPids = stacks.flatMap((s) => s.livePids());
    for (const s of stacks) s.killNow();
    rmSync(runDir, { recursive: true, force: true, maxRetries: 3 });
    await upstream.close();
    process.removeListener("exit", lastResort);
  }
  const interrupted = outer.aborted;
  return {
    rows,
    pass: !interrupted && rows.length > 0 && rows.every((r) => r.pass) && leftPids.length === 0,
    interrupted,
    startedAt,
    durationMs: Date.now() - t0,
    runDir,
    leftovers: { pids: leftPids, runDir: existsSync(runDir) ? runDir : null },
    timing,
    quick,
    seed,
    classifier: router.source,
  };
}
