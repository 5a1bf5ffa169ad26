/**
 * Smoke test of `npm run bench:engine`: tiny settings on a tiny random model,
 * checking the printed table's structure (never its timings).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { readManifest } from "../sidecar/model/manifest.ts";
import { main } from "./bench-engine.ts";
import { captureOutput } from "../test/support/capture.ts";

describe("bench:engine", () => {
  const cacheDir = mkdtempSync(join(tmpdir(), "sg-bench-"));
  afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));
  afterEach(() => vi.restoreAllMocks());

  it("prints help, and rejects bad flags with exit code 2", async () => {
    const { out, err } = captureOutput();
    expect(await main(["--help"])).toBe(0);
    expect(out.join("")).toContain("Usage: npm run bench:engine");
    expect(await main(["--models", "gpt5"])).toBe(2);
    expect(await main(["--repeats", "0"])).toBe(2);
    expect(err.join("")).toContain('unknown model "gpt5"');
  });

  it("prints one table row per runner, the bandwidth limit and the goals", async () => {
    const { out, err } = captureOutput();
    const argv = ["--models", "tiny", "--prompt-tokens", "8", "--new-tokens", "4", "--batch", "2", "--repeats", "1", "--bandwidth-mb", "4", "--min-ms", "0", "--cache-dir", cacheDir];
    expect(await main(argv)).toBe(0);
    const text = out.join("");
    const lines = text.split("\n");
    const header = lines.findIndex((l) => l.startsWith("model "));
    expect(lines[header]!.split(/\s{2,}/)).toEqual([
      "model", "runner", "params", "weights/tok", "prompt", "prefill tok/s", "TTFT ms", "decode b1 tok/s", "decode b2 tok/s", "b2/b1", "b1 % BW limit",
    ]);
    expect(lines[header + 1]).toMatch(/^-+(\s+-+){10}$/);
    const rows = lines.slice(header + 2, header + 5).map((l) => l.split(/\s{2,}/));
    expect(rows.map((r) => r.slice(0, 2))).toEqual([["tiny", "engine"], ["tiny", "engine +spin"], ["tiny", "transformers.js"]]);
    const num = /^\d+(\.\d+)?$/;
    for (const r of rows) {
      expect(r).toHaveLength(11);
      expect(r[4]).toBe("8"); // prompt tokens
      for (const cell of [r[5], r[6], r[7]]) expect(cell).toMatch(num);
      expect(r[10]).toMatch(/^\d+(\.\d+)?%$/);
    }
    expect(rows[0]![8]).toMatch(num);
    expect(rows[0]![9]).toMatch(/^\d+\.\d\dx$/);
    expect(text).toMatch(/copy bandwidth \d+(\.\d)? GB\/s/);
    expect(text).toMatch(/tiny: bandwidth limit \d+(\.\d+)? tok\/s at batch 1/);
    expect(text).toMatch(/\[(MET |MISS)\] tiny: decode b1 engine >= transformers\.js: /);
    expect(text).toMatch(/\[(MET |MISS)\] tiny: decode b2 aggregate >= 3x b1: /);
    // The steering-overhead section: no hook, hooked but unsteered, steered.
    expect(text).toContain("steering overhead, decode at batch 1");
    for (const name of ["plain", "unsteered", "steered"]) expect(text).toMatch(new RegExp(`^${name}\\s+\\d+(\\.\\d)? tok/s`, "m"));
    expect(text).toMatch(/^steered\s+.*% slower than plain$/m);
    // progress on stderr, not stdout
    expect(err.join("")).toContain("bench: tiny: round 1/1");
    expect(text).not.toContain("bench: tiny:");
  });

  it("--weights fp32,int4: one engine row per precision, the int4 build's manifest, and the speedup vs fp32", async () => {
    const { out } = captureOutput();
    const argv = ["--models", "tiny", "--weights", "fp32,int4", "--prompt-tokens", "8", "--new-tokens", "4", "--batch", "2", "--repeats", "1",
      "--bandwidth-mb", "4", "--min-ms", "0", "--no-steering", "--no-spin-row", "--cache-dir", cacheDir];
    expect(await main(argv)).toBe(0);
    const text = out.join("");
    const lines = text.split("\n");
    const header = lines.findIndex((l) => l.startsWith("model "));
    const rows = lines.slice(header + 2, header + 6).map((l) => l.split(/\s{2,}/));
    expect(rows.map((r) => r.slice(0, 2))).toEqual([["tiny", "engine fp32"], ["tiny", "transformers.js fp32"], ["tiny", "engine int4"], ["tiny", "transformers.js int4"]]);
    const bytes = (cell: string) => Number(cell.split(" ")[0]) * (cell.endsWith("MB") ? 1e6 : 1e3);
    // int4 reads fewer weight bytes per token than fp32
    expect(bytes(rows[2]![3]!)).toBeLessThan(bytes(rows[0]![3]!) / 2);
    expect(rows[2]![7]).toMatch(/^\d+(\.\d+)?$/);
    // transformers.js either runs the int4 graph or its row says why not
    expect(rows[3]![7] === "-" ? text : rows[3]![7]).toMatch(/^\d+(\.\d+)?$|tiny-int4 transformers\.js int4: /);
    expect(readManifest(join(cacheDir, "tiny-int4")).graph.precision).toEqual({ weights: "int4", blockSize: 32 });
    expect(readManifest(join(cacheDir, "tiny")).graph.precision).toEqual({ weights: "fp32", blockSize: null });
    expect(text).toContain("Precision: decode speed vs fp32");
    expect(text).toMatch(/^tiny\s+int4\s+32\s+\d+(\.\d)? kB\s+\d+(\.\d+)?\s+\d+\.\d\dx\s+\d+(\.\d+)?\s+\d+\.\d\dx\s+\d+(\.\d)?%$/m);
    expect(text).toMatch(/\[info\] tiny-int4: decode b1 int4 >= 3x fp32: \d+\.\d\dx/);
    expect(await main(["--weights", "int3"])).toBe(2);
  });
});
