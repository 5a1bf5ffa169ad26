import { describe, expect, it } from "vitest";
import { mulberry32, gaussian } from "../../sidecar/sae/train.ts";
import { auroc, cohensD, pickControl, rankFeatures, type PromptActs } from "./stats.ts";

/** n prompts x F features of sparse non-negative noise; `plant` adds a shift to some features. */
function synth(n: number, F: number, seed: number, plant: Record<number, { last?: number; mean?: number }> = {}): PromptActs {
  const rand = mulberry32(seed);
  const g = gaussian(rand);
  const last = new Float32Array(n * F);
  const mean = new Float32Array(n * F);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < F; j++) {
      const p = plant[j] ?? {};
      last[i * F + j] = Math.max(0, 0.5 + 0.5 * g() + (p.last ?? 0));
      mean[i * F + j] = Math.max(0, 0.3 + 0.3 * g() + (p.mean ?? 0));
    }
  return { n, dSae: F, last, mean };
}

describe("effect sizes", () => {
  it("Cohen's d and AUROC on hand-checked sets", () => {
    expect(cohensD([2, 4], [0, 2])).toBeCloseTo(2 / Math.sqrt(2), 12);
    expect(cohensD([1, 2, 3], [1, 2, 3])).toBe(0);
    expect(cohensD([0, 2], [2, 4])).toBeCloseTo(-Math.SQRT2, 12);
    expect(cohensD([0, 0], [0, 0])).toBe(0);
    expect(auroc([3, 4, 5], [0, 1, 2])).toBe(1);
    expect(auroc([0, 1, 2], [3, 4, 5])).toBe(0);
    expect(auroc([1, 1], [1, 1])).toBe(0.5);
    // pairs: (2>1) (2=2) (3>1) (3>2) -> (1 + 0.5 + 1 + 1) / 4
    expect(auroc([2, 3], [1, 2])).toBeCloseTo(3.5 / 4, 12);
  });

  it("ranks a planted last-token feature first, and reports a planted prompt-mean feature by its own d", () => {
    const F = 64;
    const harmful = synth(120, F, 1, { 17: { last: 1.5 }, 40: { mean: 0.6 } });
    const harmless = synth(150, F, 2);
    const stats = rankFeatures(harmful, harmless);
    expect(stats).toHaveLength(F);
    expect(stats[0].index).toBe(17);
    expect(stats[0].dLast).toBeGreaterThan(2);
    expect(stats[0].aurocLast).toBeGreaterThan(0.9);
    expect(stats[0].lastHarmful - stats[0].lastHarmless).toBeGreaterThan(1.2);
    // sorted by d at the last token, descending
    for (let i = 1; i < F; i++) expect(stats[i - 1].dLast).toBeGreaterThanOrEqual(stats[i].dLast);
    const f40 = stats.find((s) => s.index === 40)!;
    expect(f40.dMean).toBeGreaterThan(1.5);
    expect(Math.abs(f40.dLast)).toBeLessThan(0.5);
    // unplanted features are near zero
    const noise = stats.filter((s) => s.index !== 17 && s.index !== 40);
    expect(Math.max(...noise.map((s) => Math.abs(s.dLast)))).toBeLessThan(0.6);
  });

  it("draws the control from unrelated, alive features only, excluding the candidates", () => {
    const harmful = synth(100, 32, 3, { 5: { last: 2 } });
    const harmless = synth(100, 32, 4);
    const stats = rankFeatures(harmful, harmless);
    for (let seed = 0; seed < 20; seed++) {
      const c = pickControl(stats, mulberry32(seed), { exclude: [5, 6] });
      expect([5, 6]).not.toContain(c.index);
      expect(Math.abs(c.dLast)).toBeLessThan(0.2);
      expect(c.fireHarmful).toBeGreaterThan(0.05);
    }
  });
});
