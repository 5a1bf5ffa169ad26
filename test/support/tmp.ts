/**
 * Temporary directories that tests leave nothing behind with: `tempDir(prefix)`
 * makes one under os.tmpdir() (TMPDIR) and removes it, with everything in it,
 * after the test file's last test (an afterAll hook registered when a test
 * file imports this module; vitest loads modules afresh per test file), or,
 * outside vitest (scripts such as fuzz-edge), when the process exits.
 * `removeTempDirs()` removes them sooner.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const dirs = new Set<string>();

/** A new empty directory under os.tmpdir(), removed after the test file. */
export function tempDir(prefix = "steerguard-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.add(dir);
  return dir;
}

/** Removes every directory tempDir made so far (and what is in it). */
export function removeTempDirs(): void {
  for (const dir of dirs) {
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    dirs.delete(dir);
  }
}

if (process.env.VITEST) {
  const { afterAll } = await import("vitest");
  afterAll(removeTempDirs);
} else {
  process.on("exit", removeTempDirs);
}
