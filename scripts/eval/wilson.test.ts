import { describe, expect, it } from "vitest";
import { wilson } from "./wilson.ts";

// 95% Wilson score intervals (z = 1.96), as tabulated by e.g. statsmodels
// proportion_confint(method="wilson") and R's binom.confint(method="wilson").
const TABLE: [number, number, number, number][] = [
  [0, 10, 0.0, 0.2775],
  [1, 10, 0.0179, 0.4042],
  [5, 10, 0.2366, 0.7634],
  [10, 10, 0.7225, 1.0],
  [81, 100, 0.7222, 0.8749],
  [0, 1, 0.0, 0.7935],
  [50, 100, 0.4038, 0.5962],
];

describe("wilson", () => {
  it.each(TABLE)("%i/%i -> [%f, %f]", (k, n, lo, hi) => {
    const r = wilson(k, n);
    expect(r.lo).toBeCloseTo(lo, 4);
    expect(r.hi).toBeCloseTo(hi, 4);
  });
  it("is exact at the ends and symmetric", () => {
    expect(wilson(0, 7).lo).toBe(0);
    expect(wilson(7, 7).hi).toBe(1);
    const a = wilson(3, 20);
    const b = wilson(17, 20);
    expect(a.lo).toBeCloseTo(1 - b.hi, 12);
  });
  it("gives [0, 1] for n = 0 and rejects k > n", () => {
    expect(wilson(0, 0)).toEqual({ lo: 0, hi: 1 });
    expect(() => wilson(3, 2)).toThrow(RangeError);
  });
});
