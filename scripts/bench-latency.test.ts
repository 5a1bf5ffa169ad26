/**
 * Smoke test of `npm run bench:latency`: a tiny random model and short
 * prompts, checking the printed table's structure and the goal lines (never
 * the timings), and that bad flags exit 2.
 */
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { rmSync } from "node:fs";
import { captureOutput } from "../test/support/capture.ts";
import { tempDir } from "../test/support/tmp.ts";
import { DEFAULT_PREFILL_PASSES, prefillRates, prefillRepeats, type Backend } from "./bench-latency/measure.ts";
import { GenerateChunk, type GenerateRequest } from "../proto/gen/steerguard/v1/sidecar.ts";
import { DEFAULT_IDLE_CHUNK } from "../sidecar/engine/prefill.ts";
import { aloneChunk, gapStats, parseSetting } from "./bench-latency/report.ts";
import { main } from "./bench-latency.ts";

describe("bench:latency", () => {
  const cacheDir = tempDir("sg-bench-latency-");
  afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));
  afterEach(() => vi.restoreAllMocks());
  const capture = captureOutput;

  it("prints help, and rejects bad flags with exit code 2", async () => {
    const { out, err } = capture();
    expect(await main(["--help"])).toBe(0);
    expect(out.join("")).toContain("Usage: npm run bench:latency");
    expect(await main(["--settings", "64/32"])).toBe(2);
    expect(await main(["--model", "gpt5"])).toBe(2);
    expect(await main(["--streams", "1.5"])).toBe(2);
    expect(await main(["--attention", "flash"])).toBe(2);
    expect(await main(["--segments", "two"])).toBe(2);
    expect(await main(["--prefill-passes", "0"])).toBe(2);
    expect(await main(["--model", "tiny", "--long-tokens", "4000", "--cache-dir", cacheDir])).toBe(2);
    const text = err.join("");
    expect(text).toContain('CHUNK/STEP, CHUNK/STEP/YIELD or CHUNK/STEP/YIELD/IDLE with 1 <= CHUNK <= STEP, got "64/32"');
    expect(text).toContain('unknown model "gpt5"');
    expect(text).toContain('--attention: each of plain, gqa, got "flash"');
    expect(text).toContain("does not fit tiny's context of 256");
  });

  it("parses settings and summarizes gaps", () => {
    expect(parseSetting("off")).toEqual({ label: "off", prefillChunk: 0, stepTokens: 0 });
    expect(parseSetting("64/128")).toEqual({ label: "chunk 64/128", prefillChunk: 64, stepTokens: 128 });
    expect(parseSetting("64/128/0")).toEqual({ label: "chunk 64/128 yield 0", prefillChunk: 64, stepTokens: 128, prefillYield: 0 });
    expect(parseSetting("64/128/4/64")).toEqual({ label: "chunk 64/128 yield 4 idle 64", prefillChunk: 64, stepTokens: 128, prefillYield: 4, idleChunk: 64 });
    expect(() => parseSetting("64/128/x")).toThrow(/CHUNK\/STEP\/YIELD/);
    // Prefill rates are timed alone: in chunks of the idle chunk, never less than the chunk (0: whole).
    expect([parseSetting("64/128"), parseSetting("64/128/4/64"), parseSetting("64/128/4/16"), parseSetting("64/128/4/0"), parseSetting("off")].map(aloneChunk)).toEqual([DEFAULT_IDLE_CHUNK, 64, 64, 0, 0]);
    const gaps = [...Array.from({ length: 99 }, () => 20), 500];
    expect(gapStats(gaps)).toEqual({ median: 20, p99: 20, max: 500 });
    expect(gapStats([...gaps, 400])).toEqual({ median: 20, p99: 400, max: 500 });
    // Each prefill length is timed over about the longest one's tokens, an odd number of times (a median).
    expect([128, 512, 2000].map((n) => prefillRepeats(n, 2000))).toEqual([15, 5, 1]);
    expect(prefillRepeats(16, 120)).toBe(9);
  });

  it("times the prefill lengths in alternating passes and takes each length's median over all its runs", async () => {
    // A fake engine whose speed drifts: every run is slower than the one before. Prompts are named by length.
    const order: number[] = [];
    let clock = 0;
    const engine: Backend = {
      async *generate(req: GenerateRequest) {
        const tokens = Number(req.input?.$case === "prompt" ? req.input.value : NaN);
        order.push(tokens);
        clock++;
        yield GenerateChunk.fromPartial({ tokenIds: [1], finish: { usage: { promptTokens: tokens, timeToFirstTokenMs: tokens * (1 + clock / 100) } } });
      },
    } as Backend;
    const { rates, byPass } = await prefillRates(engine, ["128", "512", "2000"], [128, 512, 2000], 3);
    const block = (n: number, k: number) => Array.from({ length: k }, () => n);
    // Three passes of 15 / 5 / 1 runs, the middle one longest first.
    expect(order).toEqual([...block(128, 15), ...block(512, 5), 2000, 2000, ...block(512, 5), ...block(128, 15), ...block(128, 15), ...block(512, 5), 2000]);
    // The 2,000-token runs came at clock 21, 22 and 63 (median 22); the 128-token runs at 1-15, 28-42 and 43-57.
    expect(rates[2000]).toBeCloseTo(1000 / (1 + 22 / 100), 6);
    const at = (n: number) => order.flatMap((t, i) => (t === n ? [(n * 1000) / (n * (1 + (i + 1) / 100))] : [])).sort((a, b) => a - b);
    expect(rates[128]).toBeCloseTo(at(128)[22]!, 6);
    expect(rates[512]).toBeCloseTo(at(512)[7]!, 6);
    // Each pass's own medians: the 2,000-token run of each, the middle 128-token run of each (clock 8, 35, 50).
    expect(byPass.map((p) => p[2000])).toEqual([21, 22, 63].map((c) => 1000 / (1 + c / 100)));
    expect(byPass.map((p) => p[128])).toEqual([8, 35, 50].map((c) => 1000 / (1 + c / 100)));
    // By default, five passes: the 2,000-token prompt runs once in each.
    order.length = 0;
    await prefillRates(engine, ["128", "2000"], [128, 2000]);
    expect(DEFAULT_PREFILL_PASSES).toBe(5);
    expect(order.filter((n) => n === 2000)).toHaveLength(5);
    expect(order.filter((n) => n === 128)).toHaveLength(5 * 15);
  });

  it("runs every setting on each graph layout asked for: --segments 0 (one graph) and N blocks per segment", async () => {
    const { out } = capture();
    const argv = ["--model", "tiny", "--settings", "8/16", "--attention", "gqa", "--segments", "0,1", "--long-tokens", "120", "--prefill-lengths", "16,120", "--prefill-passes", "1", "--new-tokens", "4", "--batch", "2", "--cache-dir", cacheDir];
    expect(await main(argv)).toBe(0);
    const lines = out.join("").split("\n");
    expect(lines.find((l) => l.startsWith("figure "))!.split(/\s{2,}/)).toEqual(["figure", "chunk 8/16 gqa whole", "chunk 8/16 gqa seg1"]);
    expect(lines.filter((l) => l.startsWith("  chunk 8/16 gqa seg1: "))).toHaveLength(4); // (no "off" column to compare decode with)
    expect(out.join("")).toContain("prefill rates over 1 pass a round");
  });

  it("prints one column per setting and attention build, a row per figure, and the goals of each chunked setting", async () => {
    const { out } = capture();
    const argv = ["--model", "tiny", "--settings", "off,8/16,8/16/4/8", "--attention", "plain,gqa", "--long-tokens", "120", "--prefill-lengths", "16,120", "--new-tokens", "4", "--batch", "2", "--cache-dir", cacheDir];
    expect(await main(argv)).toBe(0);
    const lines = out.join("").split("\n");
    expect(out.join("")).toContain(`prefill rates over ${DEFAULT_PREFILL_PASSES} passes a round`);
    const header = lines.findIndex((l) => l.startsWith("figure "));
    expect(lines[header]!.split(/\s{2,}/)).toEqual(["figure", "off", "chunk 8/16", "chunk 8/16 yield 4 idle 8", "off gqa", "chunk 8/16 gqa", "chunk 8/16 yield 4 idle 8 gqa"]);
    const rows = new Map(lines.slice(header + 2, lines.indexOf("", header)).map((l) => {
      const cells = l.split(/\s{2,}/);
      return [cells[0]!, cells.slice(1)];
    }));
    expect([...rows.keys()]).toEqual([
      "stream 1 gap median / p99 / max ms", "stream 1 max gap / median", "stream 2 gap median / p99 / max ms", "stream 2 max gap / median",
      "long prompt (120 tok) TTFT ms", "steps as the long row joins ms", "page faults in those steps", "short prompt TTFT sent just after it ms",
      "short TTFT sent during its prefill, median / max ms", "short prompt TTFT with the streams only ms", "short prompt TTFT alone (idle) ms", "short just after / alone",
      "short during, max / alone",
      "prefill tok/s at 16", "prefill tok/s at 120", "prefill 120 / 16", "prefill 120 / 16, lowest-highest of one pass",
      "prefill GFLOP/s at 16", "prefill GFLOP/s at 120", "prefill 120 / 16: ceiling at one speed", "decode b1 tok/s", "decode b2 tok/s",
    ]);
    for (const cells of rows.values()) expect(cells).toHaveLength(6);
    expect(rows.get("stream 1 gap median / p99 / max ms")![1]).toMatch(/^[\d.]+ \/ [\d.]+ \/ [\d.]+$/);
    expect(rows.get("prefill tok/s at 120")![0]).toMatch(/^[\d,.]+$/);
    for (const cell of rows.get("prefill 120 / 16, lowest-highest of one pass")!) {
      const [lo, hi] = cell.split("-").map((x) => Number(x.replace("%", "")));
      expect(lo).toBeLessThanOrEqual(hi!);
    }
    // The step the long row joined in and the next two, in every column.
    for (const cell of rows.get("steps as the long row joins ms")!) expect(cell).toMatch(/^[\d,.]+ \/ [\d,.]+ \/ [\d,.]+$/);
    // Short prompts went in during the chunked long prefill (15 chunks of 8), none in the whole-prompt one.
    const during = rows.get("short TTFT sent during its prefill, median / max ms")!;
    expect(during[1]).toMatch(/^[\d,.]+ \/ [\d,.]+$/);
    expect(during[0]).toBe("- / -");
    expect(rows.get("short prompt TTFT with the streams only ms")![0]).toMatch(/^[\d,.]+$/);
    for (const label of ["chunk 8/16", "chunk 8/16 gqa", "chunk 8/16 yield 4 idle 8 gqa"]) {
      const goals = lines.filter((l) => l.startsWith(`  ${label}: `));
      expect(goals).toHaveLength(5);
      for (const g of goals) expect(g).toMatch(/-> (met|MISSED)/);
    }
    expect(lines.some((l) => l.startsWith("  off"))).toBe(false);
    // A whole prompt in one run scores the masked half of its square too: its ceiling is lower than chunks'.
    // Prefill rates are timed alone, so in idle chunks: 8/16 prefills these prompts whole (the default idle
    // chunk, 256, holds them), 8/16/4/8 in chunks of 8.
    const ceiling = rows.get("prefill 120 / 16: ceiling at one speed")!.map((c) => Number(c.replace("%", "")));
    expect(ceiling[0]).toBe(ceiling[1]);
    expect(ceiling[0]).toBeLessThan(ceiling[2]!);
    expect(ceiling[0]).toBe(ceiling[3]);
  });
});
