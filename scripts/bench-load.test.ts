/**
 * Smoke test of `npm run bench:load` on the tiny random model: one row per
 * figure and one column per layout, every figure a number (never checked
 * against a value), the layouts as the engine names them; bad flags exit 2.
 */
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { rmSync } from "node:fs";
import { captureOutput } from "../test/support/capture.ts";
import { tempDir } from "../test/support/tmp.ts";
import { main } from "./bench-load.ts";

describe("bench:load", () => {
  const cacheDir = tempDir("sg-bench-load-");
  afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));
  afterEach(() => vi.restoreAllMocks());

  it("prints help, and rejects bad flags with exit code 2", async () => {
    const { out, err } = captureOutput();
    expect(await main(["--help"])).toBe(0);
    expect(out.join("")).toContain("Usage: npm run bench:load");
    expect(await main(["--model", "gpt5"])).toBe(2);
    expect(await main(["--segments", "two"])).toBe(2);
    expect(await main(["--rounds", "0"])).toBe(2);
    expect(err.join("")).toContain('unknown model "gpt5"');
  });

  it("loads each layout in a process of its own and prints a column for each", async () => {
    const { out } = captureOutput();
    expect(await main(["--model", "tiny", "--segments", "0,1", "--rounds", "1", "--cache-dir", cacheDir])).toBe(0);
    const lines = out.join("").split("\n");
    const header = lines.findIndex((l) => l.startsWith("figure "));
    expect(lines[header]!.split(/\s{2,}/)).toEqual(["figure", "--segment-layers 0", "--segment-layers 1"]);
    const rows = new Map(lines.slice(header + 2).filter(Boolean).map((l) => [l.split(/\s{2,}/)[0]!, l.split(/\s{2,}/).slice(1)]));
    expect(rows.get("layout")).toEqual(["one graph", "2 block segments and the head"]);
    for (const label of ["load ms", "loaded MB", "settled MB (GC, 2 s)", "serving MB", "peak MB"]) {
      for (const cell of rows.get(label)!) expect(Number(cell.replace(/,/g, ""))).toBeGreaterThan(0);
    }
  }, 60_000);
});
