/** A short run of `npm run bench:encoder`: the per-call table and the burst table (coalesced vs one run each). */
import { afterEach, describe, expect, it, vi } from "vitest";
import { runCaptured } from "../test/support/capture.ts";
import { main } from "./bench-encoder.ts";

const run = (argv: string[]) => runCaptured(main, argv);

describe("bench:encoder", () => {
  afterEach(() => vi.restoreAllMocks());

  it("prints a row per text length, and the burst's times coalesced and one run each", async () => {
    const { code, out } = await run(["--runs", "10", "--block", "5", "--warmup", "0", "--threads", "2", "--burst", "6"]);
    expect(code).toBe(0);
    const cells = (l: string) => l.split("|").map((c) => c.trim()).filter(Boolean);
    const perCall = out.split("\n").filter((l) => /^\| \d+ \((short|64|128)\) \| [\d.]+ \/ [\d.]+ \|/.test(l));
    expect(perCall).toHaveLength(3);
    const burst = out.split("\n").filter((l) => / \| \d+ \(\d+\) \| \d+ \(\d+\) \| [\d.]+x \|$/.test(l)).map(cells);
    expect(burst.map((r) => r[0]!.replace(/^\d+ /, ""))).toEqual(["(short)", "(64)", "(128)", "mixed"]);
    for (const r of burst) expect(Number(r[3]!.slice(0, -1))).toBeGreaterThan(0);
    expect(out).toMatch(/burst of 6 texts, onnxruntime 2T/);
  }, 120_000);

  it("rejects a bad flag with its help", async () => {
    const { code, err } = await run(["--burst", "-1"]);
    expect(code).toBe(2);
    expect(err).toMatch(/Usage: npm run bench:encoder/);
  });
});
