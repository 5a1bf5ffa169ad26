import { describe, expect, it } from "vitest";
import { argmax, drawFromLogits, Sampler } from "./sampler.ts";

const NEG = -Infinity;
const logitsOf = (probs: number[]) => Float32Array.from(probs.map(Math.log));

function frequencies(sampler: Sampler, logits: Float32Array, draws: number): number[] {
  const counts = new Array<number>(logits.length).fill(0);
  for (let i = 0; i < draws; i++) counts[sampler.sample(logits)]++;
  return counts.map((c) => c / draws);
}

/** Pearson chi-square statistic of observed frequencies against expected probabilities. */
function chiSquare(observed: number[], expected: number[], draws: number): number {
  return observed.reduce((sum, f, i) => sum + (draws * (f - expected[i])) ** 2 / (draws * expected[i]), 0);
}

// Chi-square critical value for 3 degrees of freedom at p = 0.001.
const CHI2_3DOF_P001 = 16.27;

describe("greedy", () => {
  it("picks the argmax", () => {
    expect(new Sampler({ temperature: 0 }).sample(new Float32Array([0.1, -2, 3.5, 3.4]))).toBe(2);
  });

  it("picks the lowest token id on ties", () => {
    expect(new Sampler({ temperature: 0 }).sample(new Float32Array([1, 5, 5, 2, 5]))).toBe(1);
    expect(argmax(new Float32Array([NEG, 0, 0]))).toBe(1);
  });

  it("ignores top-k/top-p and never fails on NaN elsewhere", () => {
    const sampler = new Sampler({ temperature: 0, topK: 1, topP: 0.1, seed: 1 });
    expect(sampler.sample(new Float32Array([Number.NaN, 1, 2]))).toBe(2);
  });

  it("throws when no logit is finite", () => {
    expect(() => argmax(new Float32Array([NEG, NEG]))).toThrow(RangeError);
    expect(() => new Sampler({ seed: 1 }).sample(new Float32Array([NEG, Number.NaN]))).toThrow(RangeError);
  });
});

describe("sampling", () => {
  const logits = logitsOf([0.1, 0.2, 0.3, 0.4]);

  it("is deterministic for a seed and differs across seeds", () => {
    const run = (seed: number | bigint) => {
      const sampler = new Sampler({ seed });
      return Array.from({ length: 200 }, () => sampler.sample(logits));
    };
    expect(run(1234)).toEqual(run(1234));
    expect(run(1234)).toEqual(run(1234n));
    expect(run(1234)).not.toEqual(run(1235));
  });

  it("records the seed it used, drawing one when none is given", () => {
    expect(new Sampler({ seed: 9 }).seed).toBe(9n);
    expect(typeof new Sampler().seed).toBe("bigint");
  });

  it("does not modify the logits it is given", () => {
    const row = new Float32Array([1, 2, 3, 4]);
    new Sampler({ temperature: 0.5, topK: 2, topP: 0.5, seed: 3 }).sample(row);
    expect([...row]).toEqual([1, 2, 3, 4]);
  });

  it("matches the softmax probabilities at temperature 1 (20,000 seeded draws)", () => {
    const draws = 20_000;
    const expected = [0.1, 0.2, 0.3, 0.4];
    const observed = frequencies(new Sampler({ seed: 20_000 }), logits, draws);
    for (let i = 0; i < 4; i++) expect(Math.abs(observed[i] - expected[i])).toBeLessThan(0.015);
    expect(chiSquare(observed, expected, draws)).toBeLessThan(CHI2_3DOF_P001);
  });

  it("at temperature 0.5 samples proportionally to p^2", () => {
    // p^2 = 0.01, 0.04, 0.09, 0.16 over 0.30
    const draws = 20_000;
    const expected = [0.01, 0.04, 0.09, 0.16].map((w) => w / 0.3);
    const observed = frequencies(new Sampler({ temperature: 0.5, seed: 5 }), logits, draws);
    expect(chiSquare(observed, expected, draws)).toBeLessThan(CHI2_3DOF_P001);
  });

  it("with top-k 2 samples only the two most likely, renormalised", () => {
    const draws = 20_000;
    const observed = frequencies(new Sampler({ topK: 2, seed: 6 }), logits, draws);
    expect(observed[0]).toBe(0);
    expect(observed[1]).toBe(0);
    expect(Math.abs(observed[2] - 0.3 / 0.7)).toBeLessThan(0.015);
    expect(Math.abs(observed[3] - 0.4 / 0.7)).toBeLessThan(0.015);
  });

  it("with top-p keeps the nucleus only", () => {
    // 0.4 + 0.3 = 0.7 >= 0.65: ids 3 and 2.
    const observed = frequencies(new Sampler({ topP: 0.65, seed: 8 }), logits, 5_000);
    expect(observed[0] + observed[1]).toBe(0);
  });

  it("never draws a -Infinity token", () => {
    const row = new Float32Array([NEG, 0, NEG, 0]);
    const observed = frequencies(new Sampler({ seed: 11 }), row, 2_000);
    expect(observed[0] + observed[2]).toBe(0);
  });

  it("a temperature small enough to overflow float32 acts like greedy", () => {
    const sampler = new Sampler({ temperature: 1e-40, seed: 2 });
    const row = new Float32Array([1, 3, 2]);
    for (let i = 0; i < 20; i++) expect(sampler.sample(row)).toBe(1);
  });

  it("rejects invalid parameters", () => {
    expect(() => new Sampler({ temperature: -0.1 })).toThrow(RangeError);
    expect(() => new Sampler({ topK: -1 })).toThrow(RangeError);
    expect(() => new Sampler({ topP: 1.5 })).toThrow(RangeError);
    expect(() => new Sampler({ seed: 0.5 })).toThrow(RangeError);
  });
});

describe("drawFromLogits", () => {
  it("maps the uniform draw onto cumulative probabilities", () => {
    // Probabilities 0.25, 0.25, 0.5 (exact): [0, .25) -> 0, [.25, .5) -> 1, [.5, 1) -> 2.
    const row = new Float32Array([0, 0, Math.LN2]);
    expect(drawFromLogits(row, 0)).toBe(0);
    expect(drawFromLogits(row, 0.2)).toBe(0);
    expect(drawFromLogits(row, 0.3)).toBe(1);
    expect(drawFromLogits(row, 0.6)).toBe(2);
    expect(drawFromLogits(row, 0.999999)).toBe(2);
  });
});

describe("NaN handling", () => {
  it("never draws a NaN token, with or without processors", () => {
    const row = new Float32Array([Number.NaN, 0, Number.NaN, 0]);
    for (const params of [{ seed: 1 }, { seed: 1, topK: 3, topP: 0.99, temperature: 0.8 }]) {
      const observed = frequencies(new Sampler(params), row, 2_000);
      expect(observed[0] + observed[2]).toBe(0);
    }
  });
});
