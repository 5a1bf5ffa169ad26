import { describe, expect, it } from "vitest";
import { gaussian, mulberry32 } from "../../sidecar/sae/train.ts";
import {
  columnStats,
  conditionHolds,
  conditionValue,
  conditionValues,
  fitCondition,
  fitLogisticNewton,
  foldBack,
  profileCondition,
  rankByAbsD,
  solve,
  stratifiedFolds,
  validateCondition,
  youdenThreshold,
  type LastActs,
} from "./condition.ts";
import { auroc } from "./stats.ts";

/** n prompts x F features of sparse non-negative noise; `shift` moves some features' means. */
function synth(n: number, F: number, seed: number, shift: Record<number, number> = {}): LastActs {
  const rand = mulberry32(seed);
  const g = gaussian(rand);
  const last = new Float32Array(n * F);
  for (let i = 0; i < n; i++) for (let j = 0; j < F; j++) last[i * F + j] = Math.max(0, 1 + 0.6 * g() + (shift[j] ?? 0));
  return { n, dSae: F, last };
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

describe("logistic regression (Newton)", () => {
  it("solves a linear system", () => {
    const A = [[4, 1, 0], [1, 3, 1], [0, 1, 2]];
    const x = solve(A, [1, 2, 3]);
    A.forEach((row, i) => expect(row.reduce((s, a, k) => s + a * x[k]!, 0)).toBeCloseTo([1, 2, 3][i]!, 12));
  });

  it("reaches the penalised optimum: the gradient sum (p - y) x + l2 w vanishes, the intercept's too", () => {
    const rand = mulberry32(3);
    const g = gaussian(rand);
    const X: number[][] = [];
    const y: (0 | 1)[] = [];
    for (let i = 0; i < 300; i++) {
      const x = [g(), g(), g()];
      X.push(x);
      y.push(rand() < sigmoid(1.5 * x[0]! - 2 * x[1]! + 0.3) ? 1 : 0);
    }
    for (const l2 of [0, 1, 10]) {
      const m = fitLogisticNewton(X, y, l2);
      const grad = [0, 0, 0, 0];
      X.forEach((x, i) => {
        const r = sigmoid(m.b + x.reduce((s, xk, k) => s + m.w[k]! * xk, 0)) - y[i]!;
        x.forEach((xk, k) => (grad[k]! += r * xk));
        grad[3]! += r;
      });
      m.w.forEach((w, k) => (grad[k]! += l2 * w));
      for (const gk of grad) expect(Math.abs(gk)).toBeLessThan(1e-8);
    }
    // the penalty shrinks the weights
    const w0 = fitLogisticNewton(X, y, 0).w;
    const w10 = fitLogisticNewton(X, y, 10).w;
    expect(Math.hypot(...w10)).toBeLessThan(Math.hypot(...w0));
    expect(w0[0]).toBeGreaterThan(1);
    expect(w0[1]).toBeLessThan(-1);
  });

  it("folds a standardised fit back onto raw inputs with the same scores", () => {
    const X = [[1, 5], [2, 3], [0.5, 9], [4, 4]];
    const { mean, sd } = columnStats(X);
    const w = [0.7, -1.3];
    const b = 0.25;
    const raw = foldBack(w, b, mean, sd);
    for (const x of X) {
      const std = b + x.reduce((s, xk, k) => s + (w[k]! * (xk - mean[k]!)) / sd[k]!, 0);
      expect(raw.intercept + x.reduce((s, xk, k) => s + raw.w[k]! * xk, 0)).toBeCloseTo(std, 12);
    }
  });
});

describe("threshold and folds", () => {
  it("Youden's J on a hand-checked set", () => {
    // pos 3,4,5 vs neg 1,2,3.5: t in (2, 3] gives TPR 1, FPR 1/3; t in (3.5, 4] gives 2/3, 0: J 2/3 both; the higher wins.
    const y = youdenThreshold([3, 4, 5], [1, 2, 3.5]);
    expect(y.threshold).toBeCloseTo(3.75, 12);
    expect(y.tpr).toBeCloseTo(2 / 3, 12);
    expect(y.fpr).toBe(0);
    const sep = youdenThreshold([5, 6], [1, 2]);
    expect(sep.threshold).toBeCloseTo(3.5, 12);
    expect([sep.tpr, sep.fpr]).toEqual([1, 0]);
  });

  it("stratified folds are balanced within one per class", () => {
    const f = stratifiedFolds(23, 41, 5, 1);
    for (const xs of [f.harmful, f.harmless]) {
      const counts = [0, 0, 0, 0, 0];
      for (const k of xs) counts[k]!++;
      expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
    }
    expect(stratifiedFolds(23, 41, 5, 1)).toEqual(f);
  });
});

describe("fitCondition", () => {
  const F = 40;
  // feature 7 fires more on harmful prompts, feature 21 less; both carry signal, the rest none
  const shift = { 7: 0.9, 21: -0.9 };
  const hTrain = synth(260, F, 11, shift);
  const bTrain = synth(400, F, 12);
  const fit = fitCondition(hTrain, bTrain, { maxFeatures: 6 });

  it("ranks features by |d| either sign and keeps both planted ones, with weights of their signs", () => {
    const ranked = rankByAbsD(hTrain, bTrain).slice(0, 2).map((r) => r.index).sort((a, b) => a - b);
    expect(ranked).toEqual([7, 21]);
    expect(fit.n).toBe(2);
    const w = Object.fromEntries(fit.condition.features.map((f) => [f.index, f.weight]));
    expect(w[7]).toBeGreaterThan(0);
    expect(w[21]).toBeLessThan(0);
    expect(Math.max(...fit.condition.features.map((f) => Math.abs(f.weight)))).toBeCloseTo(1, 12);
    expect(fit.cvAuroc).toHaveLength(6);
  });

  it("decides as the fitted logistic regression does at the out-of-fold Youden threshold", () => {
    const { w, intercept } = fit.logit;
    const feats = fit.ranked.map((r) => r.index);
    // the logit threshold behind the scaled one
    const scale = Math.max(...w.map(Math.abs));
    const tLogit = fit.condition.threshold * scale + intercept;
    for (const a of [hTrain, bTrain])
      for (let i = 0; i < a.n; i++) {
        const row = a.last.subarray(i * F, (i + 1) * F);
        const logit = feats.reduce((s, j, k) => s + w[k]! * row[j]!, intercept);
        if (Math.abs(logit - tLogit) < 1e-9) continue;
        expect(conditionHolds(fit.condition, conditionValue(fit.condition, row))).toBe(logit >= tLogit);
      }
  });

  it("separates fresh prompts better than either planted feature alone", () => {
    const hVal = synth(200, F, 21, shift);
    const bVal = synth(300, F, 22);
    const v = validateCondition({ ...fit.condition, description: "" }, hVal, bVal, 7);
    expect(v.auroc).toBeGreaterThan(v.single.auroc + 0.02);
    expect(v.auroc).toBeCloseTo(auroc(conditionValues(fit.condition, hVal), conditionValues(fit.condition, bVal)), 12);
    expect(v.tpr).toBeGreaterThan(0.8);
    expect(v.fpr).toBeLessThan(0.2);
  });

  it("keeps one feature when only one carries signal", () => {
    const one = fitCondition(synth(200, F, 31, { 3: 1.2 }), synth(300, F, 32), { maxFeatures: 5 });
    expect(one.n).toBe(1);
    expect(one.condition.features).toEqual([{ index: 3, weight: 1 }]);
  });
});

describe("profileCondition", () => {
  it("reads a profile's condition, none when absent, and names the bad field", () => {
    const c = { features: [{ index: 396, weight: 1 }], threshold: 0.83, description: "x" };
    expect(profileCondition({ name: "p", condition: c })).toEqual(c);
    expect(profileCondition({ name: "p", condition: { features: [{ index: 1, weight: 2 }], threshold: -1 } })).toEqual({ features: [{ index: 1, weight: 2 }], threshold: -1, description: "" });
    expect(profileCondition({ name: "p" })).toBeUndefined();
    expect(() => profileCondition({ condition: { features: [], threshold: 1 } }, "f.json")).toThrow(/f\.json: invalid condition: condition\.features/);
    expect(() => profileCondition({ condition: { features: [{ index: -1, weight: 1 }], threshold: 1 } })).toThrow(/features\.0\.index/);
    expect(() => profileCondition({ condition: { features: [{ index: 1, weight: 1 }], threshold: 1, extra: 1 } })).toThrow(/extra/);
    expect(conditionValue({ features: [{ index: 0, weight: 2 }, { index: 2, weight: -0.5 }] }, [1, 9, 4])).toBe(0);
  });
});
