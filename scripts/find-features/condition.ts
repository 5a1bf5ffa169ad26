/**
 * The in-model condition of a steering profile (issue 16 part 1, conditional
 * steering as in IBM's CAST): steer a request only when
 *
 *   value = sum_i weight_i * f_i(x_last) >= threshold
 *
 * where f_i is SAE feature i's activation on the unsteered residual at the
 * last prompt token of the chat-formatted prompt (the profile's SAE, its
 * layer). The profile carries it as
 *
 *   "condition": {"features": [{"index": 396, "weight": 1.0}, ...], "threshold": 0.83, "description": "…"}
 *
 * Fitting (training prompts only; `fitCondition`):
 *
 * 1. Candidates: features ranked by |Cohen's d| harmful vs harmless at the last
 *    prompt token (either sign: a feature that fires on harmless prompts is
 *    evidence too, with a negative weight).
 * 2. How many (N in 1..maxFeatures): stratified k-fold cross-validation on the
 *    training prompts. In each fold the ranking and the fit see only that
 *    fold's training part; the pooled out-of-fold AUROC scores each N; the
 *    smallest N within `nTolerance` of the best wins (fewer features, same
 *    separation).
 * 3. Weights: L2-regularised logistic regression (Newton's method, exact) on
 *    the top N's standardised activations, folded back to raw activations
 *    (w_raw = w_std / sd; the intercept moves into the threshold), then scaled
 *    so the largest |weight| is 1: the value reads in units of the strongest
 *    feature's activation. Scaling by a positive number changes no decision.
 * 4. Threshold: Youden's J (max TPR - FPR) on the out-of-fold scores of the
 *    chosen N, i.e. on training prompts each scored by a fit that did not see
 *    it. Why Youden and not a fixed FPR: the condition decides only inside the
 *    edge's uncertain band, where harmful and benign prompts are both common
 *    and both errors cost (a missed jailbreak, an over-refused benign request);
 *    the whole gate's false-positive rate is held by the band's upper edge,
 *    above which the edge alone steers.
 */
import * as v from "valibot";
import { auroc, cohensD } from "./stats.ts";
import { mulberry32 } from "../../sidecar/sae/train.ts";
import { ConditionSchema } from "../../sidecar/steering/profile.ts";


/** The profile's "condition", validated with the sidecar's own schema (sidecar/steering/profile.ts). */
export type Condition = v.InferOutput<typeof ConditionSchema>;

/** The "condition" of parsed profile JSON, validated; undefined when the profile has none. */
export function profileCondition(profileJson: unknown, file = "<profile>"): Condition | undefined {
  const c = (profileJson as { condition?: unknown } | null)?.condition;
  if (c === undefined) return undefined;
  const r = v.safeParse(ConditionSchema, c);
  if (!r.success) throw new Error(`${file}: invalid condition: ${r.issues.map((i) => `condition.${v.getDotPath(i) ?? ""}: ${i.message}`).join("; ")}`);
  return r.output;
}

/** The condition's value on one prompt's feature activations [dSae] at the last prompt token. */
export function conditionValue(c: Pick<Condition, "features">, acts: ArrayLike<number>): number {
  let s = 0;
  for (const f of c.features) s += f.weight * acts[f.index]!;
  return s;
}

/** Whether the condition holds (steer). */
export const conditionHolds = (c: Pick<Condition, "threshold">, value: number) => value >= c.threshold;

/** Last-token activations of a prompt set: [n, dSae] row-major. */
export interface LastActs {
  n: number;
  dSae: number;
  last: Float32Array;
}

const col = (a: LastActs, j: number, rows?: readonly number[]): Float64Array => {
  const idx = rows ?? Array.from({ length: a.n }, (_, i) => i);
  const out = new Float64Array(idx.length);
  idx.forEach((r, i) => (out[i] = a.last[r * a.dSae + j]!));
  return out;
};

/** Features by |Cohen's d| at the last token, harmful vs harmless (rows: a subset of each set), largest first; features constant over both are left out. */
export function rankByAbsD(harmful: LastActs, harmless: LastActs, hRows?: readonly number[], bRows?: readonly number[]): { index: number; d: number }[] {
  const out: { index: number; d: number }[] = [];
  for (let j = 0; j < harmful.dSae; j++) {
    const h = col(harmful, j, hRows);
    const b = col(harmless, j, bRows);
    const first = h[0] ?? b[0];
    if (h.every((x) => x === first) && b.every((x) => x === first)) continue;
    out.push({ index: j, d: cohensD(h, b) });
  }
  return out.sort((x, y) => Math.abs(y.d) - Math.abs(x.d) || x.index - y.index);
}

/** Solves A x = b (A symmetric positive definite, small) by Gaussian elimination with partial pivoting. */
export function solve(A: number[][], b: number[]): number[] {
  const n = b.length;
  const M = A.map((r, i) => [...r, b[i]!]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r]![c]!) > Math.abs(M[p]![c]!)) p = r;
    [M[c], M[p]] = [M[p]!, M[c]!];
    const piv = M[c]![c]!;
    if (Math.abs(piv) < 1e-300) throw new Error("solve: singular matrix");
    for (let r = c + 1; r < n; r++) {
      const f = M[r]![c]! / piv;
      for (let k = c; k <= n; k++) M[r]![k]! -= f * M[c]![k]!;
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = M[r]![n]!;
    for (let k = r + 1; k < n; k++) s -= M[r]![k]! * x[k]!;
    x[r] = s / M[r]![r]!;
  }
  return x;
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

/**
 * L2-regularised logistic regression by Newton's method: minimises
 * sum_i logloss(y_i, w.x_i + b) + (l2 / 2) |w|^2 (the intercept is not
 * penalised). Rows of `X` are examples. Converges to the unique optimum.
 */
export function fitLogisticNewton(X: readonly ArrayLike<number>[], y: readonly (0 | 1)[], l2: number, opts: { maxIter?: number; tol?: number } = {}): { w: number[]; b: number; iterations: number } {
  const n = X.length;
  const d = n ? X[0]!.length : 0;
  const theta = new Array<number>(d + 1).fill(0); // [w..., b]
  const maxIter = opts.maxIter ?? 100;
  const tol = opts.tol ?? 1e-10;
  for (let it = 1; it <= maxIter; it++) {
    const g = new Array<number>(d + 1).fill(0);
    const H = Array.from({ length: d + 1 }, () => new Array<number>(d + 1).fill(0));
    for (let i = 0; i < n; i++) {
      const x = X[i]!;
      let z = theta[d]!;
      for (let k = 0; k < d; k++) z += theta[k]! * x[k]!;
      const p = sigmoid(z);
      const r = p - y[i]!;
      const s = Math.max(p * (1 - p), 1e-12);
      for (let a = 0; a <= d; a++) {
        const xa = a === d ? 1 : x[a]!;
        g[a]! += r * xa;
        for (let c = 0; c <= a; c++) H[a]![c]! += s * xa * (c === d ? 1 : x[c]!);
      }
    }
    for (let a = 0; a <= d; a++) for (let c = 0; c < a; c++) H[c]![a] = H[a]![c]!;
    for (let k = 0; k < d; k++) {
      g[k]! += l2 * theta[k]!;
      H[k]![k]! += l2;
    }
    const step = solve(H, g);
    let max = 0;
    for (let k = 0; k <= d; k++) {
      theta[k]! -= step[k]!;
      max = Math.max(max, Math.abs(step[k]!));
    }
    if (max < tol) return { w: theta.slice(0, d), b: theta[d]!, iterations: it };
  }
  return { w: theta.slice(0, d), b: theta[d]!, iterations: maxIter };
}

/** Column means and (population) standard deviations; a constant column gets sd 1. */
export function columnStats(X: readonly ArrayLike<number>[]): { mean: number[]; sd: number[] } {
  const d = X.length ? X[0]!.length : 0;
  const mean = new Array<number>(d).fill(0);
  const sd = new Array<number>(d).fill(0);
  for (const x of X) for (let k = 0; k < d; k++) mean[k]! += x[k]! / X.length;
  for (const x of X) for (let k = 0; k < d; k++) sd[k]! += (x[k]! - mean[k]!) ** 2 / X.length;
  return { mean, sd: sd.map((s) => (s > 0 ? Math.sqrt(s) : 1)) };
}

/**
 * A logistic regression fitted on standardised inputs, as weights on the raw
 * inputs: w_std . (x - mean) / sd + b = w_raw . x + intercept.
 */
export function foldBack(w: readonly number[], b: number, mean: readonly number[], sd: readonly number[]): { w: number[]; intercept: number } {
  const raw = w.map((wk, k) => wk / sd[k]!);
  return { w: raw, intercept: b - raw.reduce((s, wk, k) => s + wk * mean[k]!, 0) };
}

/** Stratified k folds: fold[i] of each harmful and harmless row (seeded, balanced within one). */
export function stratifiedFolds(nHarmful: number, nHarmless: number, k: number, seed: number): { harmful: number[]; harmless: number[] } {
  const rand = mulberry32(seed);
  const assign = (n: number) => {
    const order = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const fold = new Array<number>(n);
    order.forEach((row, pos) => (fold[row] = pos % k));
    return fold;
  };
  return { harmful: assign(nHarmful), harmless: assign(nHarmless) };
}

/** Youden's J threshold: the score t maximising TPR - FPR of "score >= t" (ties: the higher t); midway between neighbouring scores. */
export function youdenThreshold(pos: readonly number[], neg: readonly number[]): { threshold: number; tpr: number; fpr: number } {
  const all = [...new Set([...pos, ...neg])].sort((a, b) => a - b);
  let best = { threshold: all[0] ?? 0, tpr: 1, fpr: 1, j: 0 };
  for (let i = 0; i < all.length; i++) {
    // threshold just above the previous score, at this one: everything >= all[i] is flagged
    const t = i === 0 ? all[0]! : (all[i - 1]! + all[i]!) / 2;
    const tpr = pos.filter((x) => x >= t).length / Math.max(1, pos.length);
    const fpr = neg.filter((x) => x >= t).length / Math.max(1, neg.length);
    if (tpr - fpr >= best.j - 1e-12) best = { threshold: t, tpr, fpr, j: Math.max(best.j, tpr - fpr) };
  }
  return { threshold: best.threshold, tpr: best.tpr, fpr: best.fpr };
}

export interface ConditionFitOptions {
  /** Largest N tried (default 8). */
  maxFeatures: number;
  /** Cross-validation folds (default 5). */
  folds: number;
  /** L2 penalty on the standardised weights (default 1). */
  l2: number;
  /** N: the smallest within this much out-of-fold AUROC of the best (default 0.005). */
  nTolerance: number;
  seed: number;
}

export const DEFAULT_CONDITION_FIT: ConditionFitOptions = { maxFeatures: 8, folds: 5, l2: 1, nTolerance: 0.005, seed: 0 };

export interface ConditionFit {
  condition: Omit<Condition, "description">;
  /** Out-of-fold AUROC per N (index 0: N = 1). */
  cvAuroc: number[];
  n: number;
  /** Training ranking (|d|, full training set) of the chosen features, in profile order. */
  ranked: { index: number; d: number }[];
  /** The fit before scaling: raw weights and intercept (logit = w . f + intercept). */
  logit: { w: number[]; intercept: number };
  /** Youden on the out-of-fold scores: the threshold's training TPR / FPR there. */
  oof: { tpr: number; fpr: number; auroc: number };
  /** In-sample (full fit) training TPR / FPR at the threshold. */
  train: { tpr: number; fpr: number; auroc: number };
  options: ConditionFitOptions;
}

const rowsOf = (a: LastActs, rows: readonly number[], feats: readonly number[]) => rows.map((r) => feats.map((j) => a.last[r * a.dSae + j]!));

/** Fits a standardised logistic regression on `feats`, returned as raw weights + intercept. */
function fitOn(harmful: LastActs, harmless: LastActs, hRows: readonly number[], bRows: readonly number[], feats: readonly number[], l2: number) {
  const X = [...rowsOf(harmful, hRows, feats), ...rowsOf(harmless, bRows, feats)];
  const y: (0 | 1)[] = [...hRows.map(() => 1 as const), ...bRows.map(() => 0 as const)];
  const { mean, sd } = columnStats(X);
  const Z = X.map((x) => x.map((xk, k) => (xk - mean[k]!) / sd[k]!));
  const m = fitLogisticNewton(Z, y, l2);
  return foldBack(m.w, m.b, mean, sd);
}

const score = (a: LastActs, row: number, feats: readonly number[], w: readonly number[], intercept: number) =>
  feats.reduce((s, j, k) => s + w[k]! * a.last[row * a.dSae + j]!, intercept);

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Fits the condition on training prompts' last-token activations (see the module comment). */
export function fitCondition(harmful: LastActs, harmless: LastActs, opts: Partial<ConditionFitOptions> = {}): ConditionFit {
  const o = { ...DEFAULT_CONDITION_FIT, ...opts };
  if (harmful.dSae !== harmless.dSae) throw new Error(`fitCondition: d_sae ${harmful.dSae} vs ${harmless.dSae}`);
  if (harmful.n < o.folds || harmless.n < o.folds) throw new Error(`fitCondition: need at least ${o.folds} prompts per class, got ${harmful.n} harmful and ${harmless.n} harmless`);
  const folds = stratifiedFolds(harmful.n, harmless.n, o.folds, o.seed);
  // Out-of-fold scores for every N, each fold ranking and fitting on its own training part.
  const oofH = range(o.maxFeatures).map(() => new Array<number>(harmful.n).fill(0));
  const oofB = range(o.maxFeatures).map(() => new Array<number>(harmless.n).fill(0));
  for (let f = 0; f < o.folds; f++) {
    const hTr = range(harmful.n).filter((i) => folds.harmful[i] !== f);
    const bTr = range(harmless.n).filter((i) => folds.harmless[i] !== f);
    const hTe = range(harmful.n).filter((i) => folds.harmful[i] === f);
    const bTe = range(harmless.n).filter((i) => folds.harmless[i] === f);
    const ranked = rankByAbsD(harmful, harmless, hTr, bTr).map((r) => r.index);
    for (let N = 1; N <= o.maxFeatures; N++) {
      const feats = ranked.slice(0, N);
      const m = fitOn(harmful, harmless, hTr, bTr, feats, o.l2);
      for (const i of hTe) oofH[N - 1]![i] = score(harmful, i, feats, m.w, m.intercept);
      for (const i of bTe) oofB[N - 1]![i] = score(harmless, i, feats, m.w, m.intercept);
    }
  }
  const cvAuroc = range(o.maxFeatures).map((k) => auroc(oofH[k]!, oofB[k]!));
  const best = Math.max(...cvAuroc);
  const n = cvAuroc.findIndex((a) => a >= best - o.nTolerance) + 1;
  const rankedAll = rankByAbsD(harmful, harmless);
  const chosen = rankedAll.slice(0, n);
  const feats = chosen.map((r) => r.index);
  const m = fitOn(harmful, harmless, range(harmful.n), range(harmless.n), feats, o.l2);
  // Threshold on the logit, from the out-of-fold scores of this N; then scaled with the weights.
  const y = youdenThreshold(oofH[n - 1]!, oofB[n - 1]!);
  const scale = Math.max(...m.w.map(Math.abs));
  if (!(scale > 0)) throw new Error("fitCondition: every weight is 0");
  const condition = {
    features: feats.map((index, k) => ({ index, weight: m.w[k]! / scale })),
    threshold: (y.threshold - m.intercept) / scale,
  };
  const inH = range(harmful.n).map((i) => score(harmful, i, feats, m.w, m.intercept));
  const inB = range(harmless.n).map((i) => score(harmless, i, feats, m.w, m.intercept));
  const rate = (xs: number[]) => xs.filter((x) => x >= y.threshold).length / xs.length;
  return {
    condition,
    cvAuroc,
    n,
    ranked: chosen,
    logit: m,
    oof: { tpr: y.tpr, fpr: y.fpr, auroc: cvAuroc[n - 1]! },
    train: { tpr: rate(inH), fpr: rate(inB), auroc: auroc(inH, inB) },
    options: o,
  };
}

/** Condition values of every prompt of a set. */
export function conditionValues(c: Pick<Condition, "features">, a: LastActs): number[] {
  return range(a.n).map((i) => conditionValue(c, a.last.subarray(i * a.dSae, (i + 1) * a.dSae)));
}

/** Validation figures of a condition and of one single feature (its raw activation as the score). */
export interface ConditionValidation {
  auroc: number;
  tpr: number;
  fpr: number;
  single: { index: number; auroc: number };
  n: { harmful: number; harmless: number };
}

export function validateCondition(c: Condition, harmful: LastActs, harmless: LastActs, singleFeature: number): ConditionValidation {
  const h = conditionValues(c, harmful);
  const b = conditionValues(c, harmless);
  const one = { features: [{ index: singleFeature, weight: 1 }] };
  return {
    auroc: auroc(h, b),
    tpr: h.filter((x) => conditionHolds(c, x)).length / Math.max(1, h.length),
    fpr: b.filter((x) => conditionHolds(c, x)).length / Math.max(1, b.length),
    single: { index: singleFeature, auroc: auroc(conditionValues(one, harmful), conditionValues(one, harmless)) },
    n: { harmful: harmful.n, harmless: harmless.n },
  };
}
