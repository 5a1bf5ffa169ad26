/**
 * The precision quality goals of issue 15 on organism260K (a real pretrained
 * model, so quantization error shows in its perplexity): every precision built
 * from the checkpoint and scored on the 50 held-out stories against fp32, and
 * fp16's greedy text on the engine's golden prompts equal to fp32's.
 * `npm run eval:precision` prints the same numbers, plus the archref fixtures.
 */
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { WEIGHT_PRECISIONS, type WeightPrecision } from "../../sidecar/model/quantize.ts";
import { tempDir } from "../../test/support/tmp.ts";
import {
  buildAt, compareGreedy, DEFAULT_ORGANISM, DEFAULT_STORIES, GOLDEN_PROMPTS, greedyTexts, PERPLEXITY_GOALS, perplexity, readStories, type Perplexity,
} from "./precision.ts";

describe("precision quality (issue 15 goals)", () => {
  const root = tempDir("sg-precision-");
  const stories = readStories(join(DEFAULT_ORGANISM, "eval_stories.jsonl"));
  const ppl = new Map<WeightPrecision, Perplexity>();

  beforeAll(async () => {
    for (const p of WEIGHT_PRECISIONS) ppl.set(p, await perplexity(await buildAt(DEFAULT_ORGANISM, root, "organism260K", p), stories));
  }, 60_000);

  it("scores the 50 held-out stories", () => {
    expect(stories).toHaveLength(50);
    const fp32 = ppl.get("fp32")!;
    expect(fp32.tokens).toBe(stories.reduce((n, s) => n + s.length - 1, 0));
    // organism260K's README: perplexity 2.750 on these stories
    expect(fp32.perplexity).toBeCloseTo(2.75, 2);
  });

  it.each(["fp16", "int8", "int4"] as const)("%s perplexity is within its goal of fp32's", (p) => {
    const change = ppl.get(p)!.perplexity / ppl.get("fp32")!.perplexity - 1;
    expect(Math.abs(change), `${p}: ${(100 * change).toFixed(3)}%`).toBeLessThanOrEqual(PERPLEXITY_GOALS[p]);
  });

  it("fp16 greedy text on the golden prompts equals fp32's", async () => {
    const fp32 = await greedyTexts(await buildAt(DEFAULT_STORIES, root, "stories260K", "fp32"));
    const fp16 = await greedyTexts(await buildAt(DEFAULT_STORIES, root, "stories260K", "fp16"));
    expect(fp32.map((g) => g.tokens.length)).toEqual(GOLDEN_PROMPTS.map((p) => p.maxTokens));
    expect(fp32[0]!.text).toMatch(/^, there was a little girl named Lily\./);
    expect(fp16.map((g) => g.text)).toEqual(fp32.map((g) => g.text));
    expect(compareGreedy(fp16, fp32)).toEqual({ identical: GOLDEN_PROMPTS.length, prompts: GOLDEN_PROMPTS.length, firstDiff: undefined });
  }, 30_000);
});
