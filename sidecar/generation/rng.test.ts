import { describe, expect, it } from "vitest";
import { normalizeSeed, Rng, splitMix64 } from "./rng.ts";

function draws(rng: Rng, n: number): number[] {
  return Array.from({ length: n }, () => rng.nextUint32());
}

describe("Rng (xoshiro128** seeded by SplitMix64)", () => {
  it("matches the xoshiro128** reference output for state [1, 2, 3, 4]", () => {
    // First outputs of the reference C code (prng.di.unimi.it/xoshiro128starstar.c);
    // the first three are easy to check by hand: rotl(2*5, 7)*9 = 11520, then
    // s1 becomes 0 (output 0), then 1029 (rotl(5145, 7)*9 = 5927040).
    expect(draws(Rng.fromState([1, 2, 3, 4]), 4)).toEqual([11520, 0, 5927040, 70819200]);
  });

  it("matches the SplitMix64 reference output for seed 0", () => {
    const first = splitMix64(0n);
    expect(first.value).toBe(0xe220a8397b1dcdafn);
    expect(splitMix64(first.state).value).toBe(0x6e789e6aa1b965f4n);
  });

  it("gives the same sequence for the same seed, as number or bigint", () => {
    expect(draws(new Rng(42), 16)).toEqual(draws(new Rng(42), 16));
    expect(draws(new Rng(42), 16)).toEqual(draws(new Rng(42n), 16));
  });

  it("gives different sequences for nearby seeds", () => {
    expect(draws(new Rng(1), 8)).not.toEqual(draws(new Rng(2), 8));
    expect(draws(new Rng(0), 8)).not.toEqual(draws(new Rng(1), 8));
  });

  it("takes seeds modulo 2^64, wrapping negatives", () => {
    expect(normalizeSeed(-1)).toBe(2n ** 64n - 1n);
    expect(draws(new Rng(-1), 4)).toEqual(draws(new Rng(2n ** 64n - 1n), 4));
    expect(normalizeSeed(2n ** 63n + 5n)).toBe(2n ** 63n + 5n);
  });

  it("rejects seeds that are not 64-bit integers", () => {
    expect(() => new Rng(1.5)).toThrow(RangeError);
    expect(() => new Rng(Number.NaN)).toThrow(RangeError);
    expect(() => new Rng(2 ** 60)).toThrow(RangeError); // not a safe integer
    expect(() => new Rng(2n ** 64n)).toThrow(RangeError);
    expect(() => new Rng(-(2n ** 63n) - 1n)).toThrow(RangeError);
  });

  it("nextFloat stays in [0, 1) and is roughly uniform", () => {
    const rng = new Rng(7);
    const n = 50_000;
    const buckets = new Array<number>(10).fill(0);
    let sum = 0;
    let outside = 0;
    for (let i = 0; i < n; i++) {
      const x = rng.nextFloat();
      if (!(x >= 0 && x < 1)) outside++;
      sum += x;
      buckets[Math.floor(x * 10)]++;
    }
    expect(outside).toBe(0);
    expect(sum / n).toBeCloseTo(0.5, 2);
    for (const count of buckets) expect(Math.abs(count / n - 0.1)).toBeLessThan(0.01);
  });
});
