/**
 * The resilience suite (`npm run chaos`, scripts/chaos/) on a couple of its
 * cheap cases, through the same runner the CLI uses, against the real
 * service (npm start: the sidecar on organism260K and the Deno edge): kill -9
 * of the sidecar mid-stream (error events, restart, recovery) and client
 * disconnects, each on all three endpoints (chat completions, responses,
 * legacy completions), with the conditional route taken and failing closed
 * while the sidecar is down, every answer in its endpoint's wire format, and
 * every request's decision event found in the events file;
 * then that the run stopped every process and left nothing in TMPDIR; that a
 * case in which the edge died fails, though npm start restarts the edge; and
 * that a Ctrl-C (SIGINT) to the CLI does the same. No timing assertions: the
 * figures are the suite's to report, not this test's.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { descendants, waitGone } from "../scripts/chaos/procs.ts";
import { runChaos } from "../scripts/chaos/runner.ts";
import { report } from "../scripts/chaos/table.ts";
import { ENDPOINTS } from "../scripts/chaos/wire.ts";
import { REPO_ROOT } from "./support/process.ts";

describe("npm run chaos", () => {
  it("kill -9 mid-stream and client disconnects on every endpoint: goals met, conditional fails closed, every event recorded, nothing left behind", async () => {
    const lines: string[] = [];
    const result = await runChaos({ cases: ["client-disconnect", "kill9-mid-stream"], quick: true, log: (l) => lines.push(l) });
    const table = report(result);
    expect(result.rows.map((r) => r.case), table).toEqual(["client-disconnect", "kill9-mid-stream"]);
    for (const row of result.rows) {
      expect(row.goals.filter((g) => !g.ok), `${row.case}\n${table}\n${lines.join("\n")}`).toEqual([]);
      expect(row).toMatchObject({ failures: 0, hangs: 0, eventsLost: 0 });
      expect(row.requests).toBeGreaterThan(0);
    }
    const kill9 = result.rows.find((r) => r.case === "kill9-mid-stream")!;
    expect(kill9.recoveryMs).not.toBeNull();
    expect((kill9.details.streams as { interrupted: number }).interrupted).toBeGreaterThan(0);
    // The fault on each endpoint: a stream cut by its own error end, the refusal while the sidecar was down,
    // the conditional route taken; and the failure policy's other answers (503 on responses / completions, the upstream on chat).
    for (const ep of ENDPOINTS) {
      const c = kill9.byEndpoint![ep];
      expect({ ep, errorEnds: c.errorEnds > 0, refusals: c.refusals > 0, conditional: c.routes.conditional > 0, failures: c.failures, hangs: c.hangs }, table).toEqual({
        ep, errorEnds: true, refusals: true, conditional: true, failures: 0, hangs: 0,
      });
      expect(ep === "chat" ? c.upstream : c.shed, `${ep}\n${table}`).toBeGreaterThan(0);
      expect(result.rows.find((r) => r.case === "client-disconnect")!.byEndpoint![ep].requests).toBeGreaterThan(0);
    }
    expect(kill9.goals.map((g) => g.name)).toContain("conditional requests failed closed (the refusal) right after the kill, on every endpoint");
    expect(result.pass).toBe(true);
    expect(table).toMatch(/\| case +\| fault +\| requests +\| failures +\| hangs +\| events lost +\| recovery +\| shed rate +\| goals +\|/);
    expect(table).toMatch(/\| kill9-mid-stream +\| #4 +\| responses +\| \d+ /);
    expect(result.leftovers).toEqual({ pids: [], runDir: null });
    expect(existsSync(result.runDir)).toBe(false);
  }, 90_000);

  it("fails a case in which the edge died, though npm start restarts it", async () => {
    const lines: string[] = [];
    let edge: number | undefined;
    let killed: number | undefined;
    const log = (l: string) => {
      lines.push(l);
      // The case starts right after this line: the edge dies as it begins.
      if (/^ {2}up in /.test(l) && edge !== undefined) process.kill((killed = edge), "SIGKILL");
    };
    const echo = (l: string) => void (edge ??= Number(/start: edge pid (\d+)/.exec(l)?.[1]) || undefined);
    const result = await runChaos({ cases: ["client-disconnect"], quick: true, log, echo });
    const row = result.rows[0]!;
    expect(killed, lines.join("\n")).toBeDefined();
    expect(row.pass).toBe(false);
    expect(row.goals.find((g) => g.name === "the edge did not crash"), lines.join("\n")).toMatchObject({ ok: false, detail: expect.stringMatching(new RegExp(`^edge pids ${killed}( -> \\d+)?`)) });
    expect(result.leftovers).toEqual({ pids: [], runDir: null });
  }, 90_000);

  it("Ctrl-C (SIGINT) stops the service, removes the run directory and exits 130", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", "scripts/chaos.ts", "--quick", "--cases", "load-ramp"], { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    child.stdout.on("data", () => {});
    const up = new Promise<void>((resolve) =>
      child.stderr.on("data", (b: Buffer) => {
        err += b.toString();
        if (/ {2}1 clients for/.test(err)) resolve();
      }),
    );
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    try {
      await Promise.race([up, exited]);
      const runDir = /chaos: run directory (\S+)/.exec(err)?.[1];
      const pids = descendants(child.pid!); // npm start, start.ts, the sidecar, the edge, ...
      expect(pids.length, err).toBeGreaterThanOrEqual(4);
      expect(runDir, err).toBeTruthy();
      expect(existsSync(runDir!)).toBe(true);
      child.kill("SIGINT");
      expect(await exited, err).toBe(130);
      expect(err).toMatch(/SIGINT: stopping the service/);
      expect(existsSync(runDir!)).toBe(false);
      expect(await waitGone(pids, 5_000)).toEqual([]);
    } finally {
      child.kill("SIGKILL");
    }
  }, 90_000);
});
