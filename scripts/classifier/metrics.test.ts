import { describe, expect, it } from "vitest";
import { auroc, quantile, rateAtOrAbove, thresholdForFpr } from "./metrics.ts";

describe("auroc", () => {
  it("matches a hand-computed example", () => {
    // positives 0.9, 0.6, 0.4; negatives 0.7, 0.4, 0.2, 0.1.
    // Pairs (12): 0.9 beats all 4; 0.6 beats 0.4, 0.2, 0.1 (3); 0.4 ties 0.4 (0.5) and beats 0.2, 0.1 (2).
    // (4 + 3 + 2.5) / 12 = 9.5 / 12
    expect(auroc([0.9, 0.6, 0.4], [0.7, 0.4, 0.2, 0.1])).toBeCloseTo(9.5 / 12, 12);
  });
  it("is 1 for perfect separation, 0.5 for identical scores", () => {
    expect(auroc([3, 4], [1, 2])).toBe(1);
    expect(auroc([1, 1], [1, 1, 1])).toBe(0.5);
  });
});

describe("rates and thresholds", () => {
  it("counts scores at or above the threshold", () => {
    expect(rateAtOrAbove([0.1, 0.5, 0.9, 0.5], 0.5)).toBe(0.75);
  });
  it("quantile uses nearest rank", () => {
    expect(quantile([5, 1, 3, 2, 4], 0.5)).toBe(3);
    expect(quantile([5, 1, 3, 2, 4], 0.99)).toBe(5);
  });
  it("thresholdForFpr keeps the FPR at or under the target", () => {
    const neg = Array.from({ length: 100 }, (_, i) => i / 100);
    const t = thresholdForFpr(neg, 0.05);
    expect(rateAtOrAbove(neg, t)).toBeLessThanOrEqual(0.05);
    expect(rateAtOrAbove(neg, t - 0.011)).toBeGreaterThan(0.05);
  });
});
