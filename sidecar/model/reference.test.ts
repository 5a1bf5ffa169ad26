import { describe, expect, it } from "vitest";
import { argmax, newKvCache, referenceForward } from "./reference.ts";
import { randomLlama } from "./random-model.ts";
import { toHalfRotary } from "./weights.ts";

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);

describe("reference forward", () => {
  it("prefill equals token-by-token cached decoding", () => {
    const w = randomLlama({ qkvBias: true }, 11);
    const ids = [1, 5, 9, 13, 17, 21];
    const prefill = referenceForward(w, newKvCache(w), ids).logits;
    const cache = newKvCache(w);
    const stepwise = ids.map((t) => referenceForward(w, cache, [t]).logits[0]);
    prefill.forEach((l, i) => expect(maxDiff(l, stepwise[i])).toBe(0));
    expect(cache.length).toBe(ids.length);
  });

  it("interleaved weights and their half-rotary permutation give the same logits", () => {
    const w = randomLlama({ rotary: "interleaved", qkvBias: true, nLayers: 3 }, 12);
    const ids = [3, 1, 4, 1, 5, 9, 2, 6];
    const a = referenceForward(w, newKvCache(w), ids).logits;
    const b = referenceForward(toHalfRotary(w), newKvCache(w), ids).logits;
    a.forEach((l, i) => expect(maxDiff(l, b[i])).toBeLessThan(1e-5));
    // control: reading interleaved weights with the wrong convention changes the logits
    const wrong = referenceForward({ ...w, config: { ...w.config, rotary: "half" } }, newKvCache(w), ids).logits;
    expect(maxDiff(wrong.at(-1)!, a.at(-1)!)).toBeGreaterThan(1e-2);
  });

  it("exposes and lets a hook modify the residual stream after each block", () => {
    const w = randomLlama({}, 13);
    const seen: string[] = [];
    const r = referenceForward(w, newKvCache(w), [2, 3], {
      keepResiduals: true,
      onResidual: (layer, pos, x) => {
        seen.push(`${layer}@${pos}`);
        expect(x).toHaveLength(w.config.dModel);
      },
    });
    expect(seen).toEqual(["0@0", "1@0", "0@1", "1@1"]);
    expect(r.residuals).toHaveLength(2);
    expect(r.residuals[1]).toHaveLength(2);
    // zeroing the last block's residual leaves only the head's view of zeros: uniform logits
    const z = referenceForward(w, newKvCache(w), [2], { onResidual: (l, _p, x) => l === 1 && x.fill(0) });
    expect(maxDiff(z.logits[0], new Float32Array(w.config.vocabSize))).toBe(0);
    expect(argmax(Float32Array.from([0, 3, 3, 1]))).toBe(1);
  });
});
