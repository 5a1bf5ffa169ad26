import { describe, expect, it } from "vitest";
import { logSoftmax, logSumExp, stepLogprobs, tokenLogprob, topLogprobs } from "./logprobs.ts";
import { Rng } from "./rng.ts";

describe("logSoftmax", () => {
  it("matches a direct float64 computation", () => {
    const rng = new Rng(99);
    const logits = Float32Array.from({ length: 64 }, () => (rng.nextFloat() - 0.5) * 20);
    // Direct: log(exp(x_i) / sum_j exp(x_j)), no shift (values are small enough).
    let sum = 0;
    for (const x of logits) sum += Math.exp(x);
    const got = logSoftmax(logits);
    for (let i = 0; i < logits.length; i++) {
      expect(Math.abs(got[i] - Math.log(Math.exp(logits[i]) / sum))).toBeLessThan(1e-12);
    }
  });

  it("is stable for large logits", () => {
    // logSoftmax([1000, 1001, 1002]) = logSoftmax([0, 1, 2]) = [0, 1, 2] - log(1 + e + e^2)
    const lse = Math.log(1 + Math.E + Math.E ** 2); // 2.40760596...
    const got = logSoftmax(new Float32Array([1000, 1001, 1002]));
    expect([...got].every(Number.isFinite)).toBe(true);
    expect(got[0]).toBeCloseTo(-lse, 10);
    expect(got[1]).toBeCloseTo(1 - lse, 10);
    expect(got[2]).toBeCloseTo(2 - lse, 10);
    expect(logSumExp(new Float32Array([1000, 1001, 1002]))).toBeCloseTo(1000 + lse, 10);
  });

  it("exponentiates to a distribution and keeps -Infinity as probability 0", () => {
    const got = logSoftmax(new Float32Array([-Infinity, 0.3, -1.2, 2]));
    expect(got[0]).toBe(-Infinity);
    expect([...got].reduce((s, x) => s + Math.exp(x), 0)).toBeCloseTo(1, 12);
  });

  it("throws without a finite logit", () => {
    expect(() => logSoftmax(new Float32Array([-Infinity, -Infinity]))).toThrow(RangeError);
  });
});

describe("topLogprobs", () => {
  const logits = Float32Array.from([0.1, 0.4, 0.2, 0.3].map(Math.log));

  it("returns the k most likely tokens, most likely first", () => {
    const top = topLogprobs(logits, 2);
    expect(top.map((t) => t.tokenId)).toEqual([1, 3]);
    expect(top[0].logprob).toBeCloseTo(Math.log(0.4), 6);
    expect(top[1].logprob).toBeCloseTo(Math.log(0.3), 6);
  });

  it("orders ties by token id and clamps k to the vocabulary", () => {
    const top = topLogprobs(new Float32Array([1, 2, 1, 2]), 10);
    expect(top.map((t) => t.tokenId)).toEqual([1, 3, 0, 2]);
    expect(topLogprobs(new Float32Array([1, 2, 1, 2]), 3).map((t) => t.tokenId)).toEqual([1, 3, 0]);
    expect(topLogprobs(logits, 0)).toEqual([]);
  });

  it("agrees with logSoftmax", () => {
    const full = logSoftmax(logits);
    for (const { tokenId, logprob } of topLogprobs(logits, 4)) expect(logprob).toBe(full[tokenId]);
  });
});

describe("stepLogprobs", () => {
  it("reports the chosen token's logprob from the raw distribution, plus the top list", () => {
    const logits = Float32Array.from([0.1, 0.4, 0.2, 0.3].map(Math.log));
    const step = stepLogprobs(logits, 0, 2);
    expect(step.chosen.tokenId).toBe(0);
    expect(step.chosen.logprob).toBeCloseTo(Math.log(0.1), 6);
    expect(step.top.map((t) => t.tokenId)).toEqual([1, 3]);
    expect(tokenLogprob(logits, 2)).toBeCloseTo(Math.log(0.2), 6);
  });

  it("rejects a token id outside the vocabulary", () => {
    expect(() => stepLogprobs(new Float32Array([0, 1]), 2, 1)).toThrow(RangeError);
  });
});
