import { describe, expect, it } from "vitest";
import { linearWeightsPerLayer, prefillFlops, rateCeiling } from "./flops.ts";
import { randomLlama, TINY_CONFIG } from "./random-model.ts";

const DIMS = TINY_CONFIG;

/** Keys each query is scored against, query by query: every key up to the end of the query's run. */
function keysByQuery(tokens: number, chunk: number): number {
  let sum = 0;
  for (let i = 0; i < tokens; i++) sum += Math.min(tokens, (Math.floor(i / chunk) + 1) * chunk);
  return sum;
}

describe("prefill arithmetic", () => {
  it("counts the linear layers' weights as the loaded model holds them", () => {
    const w = randomLlama({ nKvHeads: 1, hiddenDim: 40 }, 3);
    const l = w.layers[0]!;
    const held = [l.wq, l.wk, l.wv, l.wo, l.w1, l.w2, l.w3].reduce((n, a) => n + a.length, 0);
    expect(linearWeightsPerLayer(w.config)).toBe(held);
  });

  it("scores each query against every key up to its run's end, a last short run included", () => {
    const perKeyQuery = 4 * DIMS.headDim * DIMS.nHeads * DIMS.nLayers;
    for (const [tokens, chunk] of [[100, 64], [128, 64], [7, 1], [50, 0], [2000, 64], [33, 10]] as const) {
      const f = prefillFlops(DIMS, tokens, { chunk, headRows: "last" });
      expect(f.attention).toBe(perKeyQuery * keysByQuery(tokens, chunk || tokens));
    }
    // one run: the whole square; one token a run: the triangle with its diagonal
    expect(prefillFlops(DIMS, 50, { headRows: "last" }).attention).toBe(perKeyQuery * 50 * 50);
    expect(prefillFlops(DIMS, 50, { chunk: 1, headRows: "last" }).attention).toBe((perKeyQuery * 50 * 51) / 2);
  });

  it("runs the head once per prompt or on every position", () => {
    const last = prefillFlops(DIMS, 40, { chunk: 16, headRows: "last" });
    const all = prefillFlops(DIMS, 40, { chunk: 16, headRows: "all" });
    expect(last.head).toBe(2 * DIMS.dModel * DIMS.vocabSize);
    expect(all.head).toBe(40 * last.head);
    expect(all.total - all.head).toBe(last.total - last.head);
  });

  it("a longer prompt's ceiling is lower, and smaller chunks raise it", () => {
    const shape = { chunk: 64, headRows: "last" } as const;
    const c512 = rateCeiling(DIMS, 128, 512, shape);
    const c2000 = rateCeiling(DIMS, 128, 2000, shape);
    expect(c2000).toBeLessThan(c512);
    expect(c512).toBeLessThan(1);
    expect(rateCeiling(DIMS, 128, 2000, { headRows: "last" })).toBeLessThan(c2000);
  });
});
