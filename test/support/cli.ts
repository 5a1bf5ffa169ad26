/**
 * Assertions on a repo script's command line, run as real processes
 * (process.ts runScript). Tests only: it imports vitest, so scripts that share
 * process.ts's helpers do not load it.
 */
import type { SpawnSyncReturns } from "node:child_process";
import { expect } from "vitest";

/**
 * A script's command-line checks, in real processes: `--help` exits 0 with
 * `helpShows` on stdout; each bad command line exits 2 with its message and
 * the usage (`usage`) on stderr, and nothing on stdout.
 */
export function expectUsageErrors(run: (...args: string[]) => SpawnSyncReturns<string>, helpShows: RegExp, usage: RegExp, cases: readonly (readonly [readonly string[], RegExp])[]): void {
  const help = run("--help");
  expect(help.status).toBe(0);
  expect(help.stdout).toMatch(helpShows);
  for (const [args, message] of cases) {
    const r = run(...args);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(usage);
    expect(r.stdout).toBe("");
  }
}
