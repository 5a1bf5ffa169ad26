/**
 * Effect sizes for find-features: how differently each SAE feature fires on
 * harmful vs harmless prompts.
 *
 * - Cohen's d (harmful minus harmless, pooled standard deviation): the
 *   ranking statistic. Positive = fires more on harmful prompts.
 * - AUROC (Mann-Whitney U / (n1 n0), ties count one half): reported beside it,
 *   as a scale-free check (0.5 = no separation, 1 = every harmful prompt above
 *   every harmless one).
 */

export interface FeatureStat {
  index: number;
  /** Cohen's d at the last prompt token. */
  dLast: number;
  aurocLast: number;
  /** Cohen's d of the activation averaged over the prompt's tokens. */
  dMean: number;
  aurocMean: number;
  /** Mean activation at the last prompt token: harmful, harmless. */
  lastHarmful: number;
  lastHarmless: number;
  /** Fraction of prompts whose last token fires the feature (> 0): harmful, harmless. */
  fireHarmful: number;
  fireHarmless: number;
  /** Mean over-the-prompt activation (all prompts, both sets). */
  meanAll: number;
}

function meanVar(xs: ArrayLike<number>): { mean: number; variance: number } {
  const n = xs.length;
  let m = 0;
  for (let i = 0; i < n; i++) m += xs[i];
  m /= Math.max(1, n);
  let v = 0;
  for (let i = 0; i < n; i++) v += (xs[i] - m) ** 2;
  return { mean: m, variance: n > 1 ? v / (n - 1) : 0 };
}

/** Cohen's d of a vs b with the pooled (n - 1) standard deviation; 0 when both sets are constant. */
export function cohensD(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const A = meanVar(a);
  const B = meanVar(b);
  const df = a.length + b.length - 2;
  const pooled = df > 0 ? ((a.length - 1) * A.variance + (b.length - 1) * B.variance) / df : 0;
  const diff = A.mean - B.mean;
  if (pooled <= 1e-12) return diff === 0 ? 0 : Math.sign(diff) * 1e6;
  return diff / Math.sqrt(pooled);
}

/** AUROC of "a above b": P(a > b) + P(a = b) / 2, by ranks (ties get mid-ranks). */
export function auroc(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n1 = a.length;
  const n0 = b.length;
  if (n1 === 0 || n0 === 0) return 0.5;
  const all: { v: number; pos: boolean }[] = [];
  for (let i = 0; i < n1; i++) all.push({ v: a[i], pos: true });
  for (let i = 0; i < n0; i++) all.push({ v: b[i], pos: false });
  all.sort((x, y) => x.v - y.v);
  let rankSum = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j < all.length && all[j].v === all[i].v) j++;
    const mid = (i + 1 + j) / 2; // 1-based mid-rank of the tie block i..j-1
    for (let t = i; t < j; t++) if (all[t].pos) rankSum += mid;
    i = j;
  }
  return (rankSum - (n1 * (n1 + 1)) / 2) / (n1 * n0);
}

/** Per-prompt activations of every feature: `last` and `mean`, each [nPrompts, dSae] row-major. */
export interface PromptActs {
  n: number;
  dSae: number;
  last: Float32Array;
  mean: Float32Array;
}

function column(m: Float32Array, n: number, F: number, j: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = m[i * F + j];
  return out;
}

/** Effect sizes of every feature, sorted by Cohen's d at the last prompt token (descending). */
export function rankFeatures(harmful: PromptActs, harmless: PromptActs): FeatureStat[] {
  if (harmful.dSae !== harmless.dSae) throw new Error(`rankFeatures: d_sae ${harmful.dSae} vs ${harmless.dSae}`);
  const F = harmful.dSae;
  const out: FeatureStat[] = [];
  const frac = (xs: Float64Array) => xs.reduce((s, x) => s + (x > 0 ? 1 : 0), 0) / Math.max(1, xs.length);
  const avg = (xs: Float64Array) => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);
  for (let j = 0; j < F; j++) {
    const hl = column(harmful.last, harmful.n, F, j);
    const bl = column(harmless.last, harmless.n, F, j);
    const hm = column(harmful.mean, harmful.n, F, j);
    const bm = column(harmless.mean, harmless.n, F, j);
    out.push({
      index: j,
      dLast: cohensD(hl, bl),
      aurocLast: auroc(hl, bl),
      dMean: cohensD(hm, bm),
      aurocMean: auroc(hm, bm),
      lastHarmful: avg(hl),
      lastHarmless: avg(bl),
      fireHarmful: frac(hl),
      fireHarmless: frac(bl),
      meanAll: (avg(hm) * harmful.n + avg(bm) * harmless.n) / Math.max(1, harmful.n + harmless.n),
    });
  }
  return out.sort((x, y) => y.dLast - x.dLast || x.index - y.index);
}

/**
 * A control feature, drawn with `rand`: unrelated to refusal (|d| below
 * `maxAbsD` at the last token and over the prompt, last-token AUROC within
 * 0.4..0.6) but alive at the decision point (fires at the last prompt token of
 * at least `minFire` of the harmful and of the harmless prompts). When no
 * feature is that alive, any unrelated feature with a non-zero prompt mean.
 */
export function pickControl(stats: FeatureStat[], rand: () => number, opts: { maxAbsD?: number; minFire?: number; exclude?: number[] } = {}): FeatureStat {
  const maxAbsD = opts.maxAbsD ?? 0.2;
  const minFire = opts.minFire ?? 0.05;
  const ex = new Set(opts.exclude ?? []);
  const unrelated = stats
    .filter((s) => !ex.has(s.index) && Math.abs(s.dLast) < maxAbsD && Math.abs(s.dMean) < maxAbsD)
    .filter((s) => s.aurocLast > 0.4 && s.aurocLast < 0.6 && s.meanAll > 0)
    .sort((a, b) => a.index - b.index);
  const alive = unrelated.filter((s) => s.fireHarmful >= minFire && s.fireHarmless >= minFire);
  const pool = alive.length > 0 ? alive : unrelated;
  if (pool.length === 0) throw new Error("no unrelated, alive feature to use as the control");
  return pool[Math.floor(rand() * pool.length)];
}
