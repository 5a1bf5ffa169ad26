/**
 * Fitting the classifier's second stage (edge/risk/second-stage.ts) on
 * training-side data only:
 *
 * - the probe: a one-hidden-layer MLP (`fitMlp`; `hidden: 0`: L2-regularised
 *   logistic regression, `fitLogistic`) on the sentence encoder's embeddings
 *   of the training split, each class weighing the same in total and, within
 *   a class, a source of n examples n^-0.5 per example (as the first stage);
 * - standardisation of the first stage's logit and the probe's logit on the
 *   training split's benign examples;
 * - on the validation split: the band [lo, hi) of first-stage risk outside
 *   which the first stage is rarely wrong (at most `bandMiss` of validation
 *   harmful below lo, of validation benign at or above hi), and the threshold
 *   on the combined score: the lowest with the whole gate's false-positive
 *   rate on validation benign instructions at most `targetFpr` (the first
 *   stage's own rule, at DEFAULT_GATE_FPR).
 */
import { resolve } from "node:path";
import { Adam } from "./adam.ts";
import { contrastSets, NO_OPT_IN, type AugmentRecord, type OptInSets } from "./augment.ts";
import { DEFAULT_BACKGROUND } from "./background.ts";
import { heldOutKeys, loadHeldOut } from "./data.ts";
import { buildDataset, type LabelledText } from "./dataset.ts";
import { assembleTrainingData, DEFAULT_FIT } from "./fit.ts";
import { REPO_ROOT } from "./paths.ts";
import { quantile } from "./metrics.ts";
import { mulberry32, shuffle } from "./train-lib.ts";
import { inBand, type Standardisation } from "../../edge/risk/second-stage.ts";
import type { ProbeWeights } from "../../edge/risk/probe-head.ts";
import { encodeBase64 } from "../../edge/classifier/base64.ts";

export const PROBE_VERSION = "1.3.0";
export const DEFAULT_PROBE_ARTIFACT = resolve(REPO_ROOT, "edge/classifier/encoder-probe.v1.json");

/**
 * The first stage's training/validation split (fit.ts with the shipped options;
 * `sets`: with the opt-in contrast sets an artifact records, see optInSetsOf).
 */
export function shippedSplit(dataDir: string, seed: number, sets: OptInSets = NO_OPT_IN): { train: LabelledText[]; val: LabelledText[] } {
  const data = assembleTrainingData(dataDir, { fieldAugment: true, contrastFiles: contrastSets(sets), backgroundPerBook: DEFAULT_BACKGROUND.perBook, seed });
  const build = { seed, valFrac: DEFAULT_FIT.valFrac, perTemplateHarmful: DEFAULT_FIT.perTemplateHarmful, perTemplateBenign: DEFAULT_FIT.perTemplateBenign, valMode: "random" as const };
  return buildDataset(data, heldOutKeys(loadHeldOut(dataDir)), build);
}

/** The opt-in contrast sets a first-stage artifact (its JSON text) was trained with. */
export function optInSetsOf(artifactText: string): OptInSets {
  const a = (JSON.parse(artifactText) as { training?: { augment?: Partial<AugmentRecord> } | null }).training?.augment;
  return { multiTurn: a?.multiTurnSet === true, systemPrompts: a?.systemPromptSet === true };
}

export interface ProbeExample {
  /** embedding */
  e: ArrayLike<number>;
  y: 0 | 1;
  weight: number;
}

export interface ProbeOptions {
  /** hidden ReLU units; 0: a linear probe (logistic regression) */
  hidden: number;
  l2: number;
  lr: number;
  epochs: number;
  batch: number;
  seed: number;
}

/** Linear probe (v1.1.0's). */
export const LINEAR_PROBE: ProbeOptions = { hidden: 0, l2: 1e-4, lr: 1e-2, epochs: 60, batch: 64, seed: 42 };
/** The shipped probe: 64 ReLU units (MODEL_CARD.md: what each setting gave on validation). */
export const DEFAULT_PROBE: ProbeOptions = { hidden: 64, l2: 1e-4, lr: 1e-3, epochs: 15, batch: 64, seed: 42 };
/**
 * The gate's threshold rule: at most 1% of validation benign instructions
 * flagged, half the first stage's 2%. With the hidden-layer probe the gate
 * then beats the first stage on validation recall, benign FPR and
 * contrast-set FPR at once (MODEL_CARD.md).
 */
export const DEFAULT_GATE_FPR = 0.01;

/** Weights: equal total per class; within a class a source of n examples weighs n^-balance each; mean 1. */
export function classSourceWeights(items: readonly { y: 0 | 1; source: string }[], balance = 0.5): number[] {
  const n = new Map<string, number>();
  for (const x of items) n.set(x.source, (n.get(x.source) ?? 0) + 1);
  const raw = items.map((x) => Math.pow(n.get(x.source)!, -balance));
  const sum = [0, 0];
  items.forEach((x, i) => (sum[x.y] += raw[i]!));
  return items.map((x, i) => (raw[i]! * items.length) / 2 / sum[x.y]!);
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

/**
 * Mini-batch Adam on the weighted logistic loss over seeded shuffles of `xs`:
 * `logit` scores an example's embedding (keeping what `backprop` needs), and
 * `backprop` adds the gradient of the loss, given its derivative `g` with
 * respect to that logit, into `adam.grads`.
 */
function minimise(
  xs: readonly ProbeExample[],
  o: ProbeOptions,
  rng: () => number,
  adam: Adam,
  logit: (e: ArrayLike<number>) => number,
  backprop: (e: ArrayLike<number>, g: number) => void,
  onEpoch?: (e: number, loss: number) => void,
): void {
  const order = xs.map((_, i) => i);
  for (let epoch = 0; epoch < o.epochs; epoch++) {
    shuffle(order, rng);
    let loss = 0;
    let wsum = 0;
    for (let s = 0; s < order.length; s += o.batch) {
      const end = Math.min(order.length, s + o.batch);
      for (let k = s; k < end; k++) {
        const x = xs[order[k]!]!;
        const p = sigmoid(logit(x.e));
        loss -= x.weight * (x.y ? Math.log(Math.max(p, 1e-12)) : Math.log(Math.max(1 - p, 1e-12)));
        wsum += x.weight;
        backprop(x.e, x.weight * (p - x.y));
      }
      adam.step(end - s);
    }
    onEpoch?.(epoch, loss / wsum);
  }
}

/** Weighted logistic regression by mini-batch Adam; returns weights and bias. */
export function fitLogistic(xs: readonly ProbeExample[], dim: number, o: ProbeOptions = LINEAR_PROBE, onEpoch?: (e: number, loss: number) => void): { w: number[]; b: number } {
  const w = new Float64Array(dim);
  const b = new Float64Array(1);
  const adam = new Adam([w, b], { lr: o.lr, l2: o.l2 }, new Set([b]));
  const [gw, gb] = adam.grads as [Float64Array, Float64Array];
  const logit = (e: ArrayLike<number>) => {
    let z = b[0]!;
    for (let i = 0; i < dim; i++) z += w[i]! * e[i]!;
    return z;
  };
  const backprop = (e: ArrayLike<number>, g: number) => {
    for (let i = 0; i < dim; i++) gw[i] += g * e[i]!;
    gb[0] += g;
  };
  minimise(xs, o, mulberry32(o.seed), adam, logit, backprop, onEpoch);
  return { w: Array.from(w), b: b[0]! };
}

/** The probe `o` asks for: linear when `o.hidden` is 0, else one hidden layer (`fitMlp`). */
export function fitProbe(xs: readonly ProbeExample[], dim: number, o: ProbeOptions, onEpoch?: (e: number, loss: number) => void): ProbeWeights {
  return o.hidden === 0 ? fitLogistic(xs, dim, o, onEpoch) : fitMlp(xs, dim, o, onEpoch);
}

/**
 * Weighted logistic loss through one hidden layer of `o.hidden` ReLU units,
 * by mini-batch Adam (Glorot-uniform start, seeded); weight decay on the
 * weights, not the biases. The hidden weights are returned as float32 in
 * base64, as the edge reads them (probe-head.ts).
 */
export function fitMlp(xs: readonly ProbeExample[], dim: number, o: ProbeOptions, onEpoch?: (e: number, loss: number) => void): ProbeWeights {
  const H = o.hidden;
  const rng = mulberry32(o.seed);
  const glorot = (fanIn: number, fanOut: number) => () => (rng() * 2 - 1) * Math.sqrt(6 / (fanIn + fanOut));
  const W = new Float64Array(H * dim).map(glorot(dim, H));
  const c = new Float64Array(H);
  const w = new Float64Array(H).map(glorot(H, 1));
  const b = new Float64Array(1);
  const adam = new Adam([W, c, w, b], { lr: o.lr, l2: o.l2 }, new Set([c, b]));
  const [gW, gc, gw, gb] = adam.grads as [Float64Array, Float64Array, Float64Array, Float64Array];
  const h = new Float64Array(H); // the last example's hidden activations, for backprop
  const logit = (e: ArrayLike<number>) => {
    let z = b[0]!;
    for (let j = 0; j < H; j++) {
      let a = c[j]!;
      for (let i = 0, off = j * dim; i < dim; i++) a += W[off + i]! * e[i]!;
      h[j] = a > 0 ? a : 0;
      z += w[j]! * h[j]!;
    }
    return z;
  };
  const backprop = (e: ArrayLike<number>, g: number) => {
    gb[0] += g;
    for (let j = 0; j < H; j++) {
      gw[j] += g * h[j]!;
      if (h[j]! <= 0) continue;
      const gj = g * w[j]!;
      gc[j] += gj;
      for (let i = 0, off = j * dim; i < dim; i++) gW[off + i] += gj * e[i]!;
    }
  };
  minimise(xs, o, rng, adam, logit, backprop, onEpoch);
  const W32 = Float32Array.from(W);
  return { w: Array.from(w), b: b[0]!, hidden: { units: H, W: encodeBase64(new Uint8Array(W32.buffer)), b: Array.from(c) } };
}

/** Mean and standard deviation of the finite values. */
export function standardisation(values: readonly number[]): Standardisation {
  const v = values.filter(Number.isFinite);
  const mean = v.reduce((a, x) => a + x, 0) / v.length;
  const sd = Math.sqrt(v.reduce((a, x) => a + (x - mean) ** 2, 0) / v.length);
  return { mean, sd };
}

/** A validation example as the gate sees it. */
export interface GateExample {
  y: 0 | 1;
  /** first-stage risk */
  risk: number;
  /** combined score (only meaningful inside the band) */
  z: number;
  /** counts for the threshold's false-positive rate */
  pool: boolean;
}

/** Band [lo, hi): at most `miss` of the harmful have risk < lo, at most `miss` of the benign risk >= hi. */
export function chooseBand(harmfulRisks: readonly number[], benignRisks: readonly number[], miss: number): { lo: number; hi: number } {
  const lo = Math.max(1e-6, quantile(harmfulRisks, miss));
  const hi = Math.min(1 - 1e-6, quantile(benignRisks, 1 - miss) + 1e-9);
  return { lo, hi: Math.max(lo, hi) };
}

/** Whether the gate flags an example (band and threshold given). */
export function gateFlags(x: GateExample, band: { lo: number; hi: number }, firstThreshold: number, t: number): boolean {
  return inBand(band, x.risk) ? x.z >= t : x.risk >= firstThreshold;
}

/** Of `xs`: how many the first stage flags outside the band, and the in-band combined scores, highest first. */
function split(xs: readonly GateExample[], band: { lo: number; hi: number }, firstThreshold: number): { fixed: number; inBand: number[] } {
  const fixed = xs.filter((x) => !inBand(band, x.risk) && x.risk >= firstThreshold).length;
  return { fixed, inBand: xs.filter((x) => inBand(band, x.risk)).map((x) => x.z).sort((a, b) => b - a) };
}

/** The lowest combined-score threshold whose gate FPR on the pool's benign is at most `targetFpr`. */
export function chooseThreshold(xs: readonly GateExample[], band: { lo: number; hi: number }, firstThreshold: number, targetFpr: number): number {
  const pool = xs.filter((x) => x.pool && x.y === 0);
  const { fixed, inBand } = split(pool, band, firstThreshold);
  const allowed = Math.floor(targetFpr * pool.length) - fixed; // in-band benign that may be flagged
  if (allowed >= inBand.length) return inBand.length ? inBand[inBand.length - 1]! : 0;
  if (allowed < 0) return (inBand[0] ?? 0) + 1e-9;
  return inBand[allowed]! + 1e-9;
}

/** The highest combined-score threshold whose gate recall on `positives` is at least `minRecall`. */
export function thresholdForRecall(positives: readonly GateExample[], band: { lo: number; hi: number }, firstThreshold: number, minRecall: number): number {
  const { fixed, inBand } = split(positives, band, firstThreshold);
  const needed = Math.ceil(minRecall * positives.length - 1e-9) - fixed; // in-band harmful that must be flagged
  if (needed <= 0) return (inBand[0] ?? 0) + 1e-9;
  return inBand[Math.min(needed, inBand.length) - 1] ?? 0;
}
