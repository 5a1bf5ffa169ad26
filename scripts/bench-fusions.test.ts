/**
 * Smoke test of `npm run bench:fusions` on the tiny random model: the three
 * graphs are made (the fused one with SkipSimplifiedLayerNormalization nodes),
 * the table has a row each with ratios to "optimized" (never the timings
 * themselves), and bad flags exit 2.
 */
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { readdirSync, rmSync, statSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { captureOutput } from "../test/support/capture.ts";
import { tempDir } from "../test/support/tmp.ts";
import { opCounts } from "../sidecar/steering/fuse-skip-norm.ts";
import { readModelProto } from "../sidecar/steering/surgery.ts";
import { main } from "./bench-fusions.ts";

describe("bench:fusions", () => {
  const cacheDir = tempDir("sg-bench-fusions-");
  afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));
  afterEach(() => vi.restoreAllMocks());

  it("prints help, and rejects bad flags with exit code 2", async () => {
    const { out, err } = captureOutput();
    expect(await main(["--help"])).toBe(0);
    expect(out.join("")).toContain("Usage: npm run bench:fusions");
    expect(await main(["--model", "gpt5"])).toBe(2);
    expect(await main(["--rounds", "0"])).toBe(2);
    expect(await main(["--attention", "flash"])).toBe(2);
    const text = err.join("");
    expect(text).toContain('unknown model "gpt5"');
    expect(text).toContain('--rounds must be an integer >= 1, got "0"');
    expect(text).toContain('--attention: one of plain, gqa, got "flash"');
  });

  it("times the graph as built, optimized ahead, and with its residual adds fused, one row each", async () => {
    const { out } = captureOutput();
    expect(await main(["--model", "tiny", "--rounds", "1", "--batch", "2", "--new-tokens", "4", "--prefill-tokens", "16", "--cache-dir", cacheDir])).toBe(0);
    const lines = out.join("").split("\n");
    const header = lines.findIndex((l) => l.startsWith("graph "));
    const rows = lines.slice(header + 2, header + 5).map((l) => l.split(/\s{2,}/));
    expect(rows.map((r) => r[0])).toEqual(["as built", "optimized", "skip-fused"]);
    for (const r of rows) for (const cell of r.slice(1)) expect(cell).toMatch(/^[\d.]+ \([\d.]+x\)$/);
    expect(rows[1]!.slice(1).every((c) => c.endsWith("(1.00x)"))).toBe(true);
    const fused = readdirSync(cacheDir).find((d) => d.endsWith("-skip-fused"))!;
    const ops = opCounts(readModelProto(join(cacheDir, fused, "model.onnx")));
    expect(ops["com.microsoft:SkipSimplifiedLayerNormalization"]).toBeGreaterThan(0);
    expect(ops.Add ?? 0).toBeLessThan(opCounts(readModelProto(join(cacheDir, fused.replace("-skip-fused", "-ort-extended"), "model.onnx"))).Add!);

    // The variants are kept for later runs, and made again when the source graph was rebuilt.
    const fusedFile = join(cacheDir, fused, "model.onnx");
    const made = statSync(fusedFile).mtimeMs;
    const run = ["--model", "tiny", "--rounds", "1", "--batch", "2", "--new-tokens", "2", "--prefill-tokens", "8", "--cache-dir", cacheDir];
    expect(await main(run)).toBe(0);
    expect(statSync(fusedFile).mtimeMs).toBe(made);
    const source = join(cacheDir, fused.replace("-skip-fused", ""), "model.onnx");
    utimesSync(source, new Date(), new Date(Date.now() + 60_000));
    expect(await main(run)).toBe(0);
    expect(statSync(fusedFile).mtimeMs).not.toBe(made);
  }, 120_000);
});
