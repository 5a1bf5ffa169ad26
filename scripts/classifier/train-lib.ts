/**
 * Training library for the prompt-risk classifier: seeded RNG, sparse vectors
 * from the runtime featurizer, FTRL-Proximal logistic regression, and artifact
 * writing. Deterministic: the same data, options and seed give the same bytes.
 */
import { Featurizer, type FeatureConfig } from "../../edge/classifier/features.ts";
import { ARTIFACT_FORMAT, ARTIFACT_FORMAT_VERSION, type RiskArtifact, type SegmentRule } from "../../edge/classifier/model.ts";
import { encodeBase64 } from "../../edge/classifier/base64.ts";
import type { EmbeddingArtifact } from "../../edge/classifier/embedding.ts";
import { mulberry32 } from "../../sidecar/model/random-model.ts";

// mulberry32: the seeded PRNG every seeded job shares (defined in random-model.ts).
export { mulberry32 };

/** Fisher-Yates shuffle in place with the given RNG. */
export function shuffle<T>(a: T[], rng: () => number): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
  return a;
}

/** Stable 32-bit string hash (FNV-1a), for seeded train/validation assignment. */
export function hashString(s: string, seed = 0): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}

/** A training example as a normalised sparse vector, exactly as the scorer sees it. */
export interface SparseExample {
  idx: Int32Array;
  val: Float32Array;
  y: 0 | 1;
  weight: number;
}

/**
 * Sparse count vector of `text` divided by sqrt(number of feature occurrences)
 * (the scorer's normalisation: RiskModel sums the weights of all occurrences
 * and divides by sqrt(n), with no table of distinct features). It equals L2
 * normalisation when no feature repeats.
 */
export function vectorize(f: Featurizer, text: string): { idx: Int32Array; val: Float32Array } {
  const raw = f.indices(text);
  const sorted = Int32Array.from(raw).sort();
  let u = 0;
  const idx = new Int32Array(sorted.length);
  const cnt = new Float32Array(sorted.length);
  for (let i = 0; i < sorted.length; i++) {
    if (u > 0 && idx[u - 1] === sorted[i]) cnt[u - 1]++;
    else {
      idx[u] = sorted[i];
      cnt[u] = 1;
      u++;
    }
  }
  const inv = sorted.length > 0 ? 1 / Math.sqrt(sorted.length) : 0;
  const val = new Float32Array(u);
  for (let i = 0; i < u; i++) val[i] = cnt[i] * inv;
  return { idx: idx.slice(0, u), val };
}

/**
 * A dense term added to the sparse logit and trained alongside it (the
 * embedding head): `logit(i)` for training example i, then `update(i, g)` with
 * g = dloss/dlogit for the same example.
 */
export interface DenseTerm {
  logit(i: number): number;
  update(i: number, g: number): void;
  endEpoch(): void;
}

export interface FtrlOptions {
  alpha: number;
  beta: number;
  l1: number;
  l2: number;
  epochs: number;
  seed: number;
  /** called after each epoch with the mean weighted log loss */
  onEpoch?: (epoch: number, loss: number) => void;
  /** called every so many examples (for progress bars) */
  onProgress?: (done: number) => void;
  /** trained jointly: its logit is added to every example's, and it gets the same gradient */
  dense?: DenseTerm;
  /**
   * Multiple-instance bags (bags.ts): bag b is examples offsets[b] .. offsets[b+1]-1,
   * which share its label and weight; each step trains the member with the largest
   * logit. Absent: every example is its own bag.
   */
  bags?: Int32Array;
}

export const DEFAULT_FTRL: Omit<FtrlOptions, "seed"> = { alpha: 0.6, beta: 1, l1: 1e-6, l2: 1e-4, epochs: 8 };

export interface LinearModel {
  weights: Float32Array;
  bias: number;
}

/**
 * Per-coordinate FTRL-Proximal logistic regression (McMahan et al. 2013) over
 * sparse examples, several epochs in a seeded shuffled order. The bias is an
 * unregularised coordinate. Returns the final weights.
 */
export function trainFtrl(examples: SparseExample[], dim: number, opts: FtrlOptions): LinearModel {
  const z = new Float64Array(dim);
  const n = new Float64Array(dim);
  let zb = 0;
  let nb = 0;
  const { alpha, beta, l1, l2 } = opts;
  const rng = mulberry32(opts.seed);
  const offsets = opts.bags ?? Int32Array.from({ length: examples.length + 1 }, (_, i) => i);
  if (offsets[offsets.length - 1] !== examples.length) throw new Error("bags do not cover the examples");
  const order = Array.from({ length: offsets.length - 1 }, (_, i) => i);
  const weightOf = (i: number): number => {
    const zi = z[i];
    if (Math.abs(zi) <= l1) return 0;
    return -(zi - Math.sign(zi) * l1) / ((beta + Math.sqrt(n[i])) / alpha + l2);
  };
  const biasOf = (): number => -zb / ((beta + Math.sqrt(nb)) / alpha);
  let w = new Float64Array(256);
  const sparse = (ex: SparseExample): number => {
    let s = 0;
    for (let j = 0; j < ex.idx.length; j++) s += weightOf(ex.idx[j]) * ex.val[j];
    return s;
  };
  /** The member of bag b with the largest logit (the one the scorer's max would use). */
  const pickMember = (b: number): number => {
    const from = offsets[b];
    const to = offsets[b + 1];
    if (to - from === 1) return from;
    let best = from;
    let bestZ = -Infinity;
    for (let r = from; r < to; r++) {
      const z = sparse(examples[r]) + (opts.dense ? opts.dense.logit(r) : 0);
      if (z > bestZ) {
        bestZ = z;
        best = r;
      }
    }
    return best;
  };
  for (let epoch = 0; epoch < opts.epochs; epoch++) {
    shuffle(order, rng);
    let loss = 0;
    let wsum = 0;
    for (let k = 0; k < order.length; k++) {
      const row = pickMember(order[k]);
      const ex = examples[row];
      const { idx, val } = ex;
      if (w.length < idx.length) w = new Float64Array(idx.length * 2);
      const b = biasOf();
      // (dense.logit also keeps this row's activations for the update below)
      let s = b + (opts.dense ? opts.dense.logit(row) : 0);
      for (let j = 0; j < idx.length; j++) {
        const wi = weightOf(idx[j]);
        w[j] = wi;
        s += wi * val[j];
      }
      const p = s >= 0 ? 1 / (1 + Math.exp(-s)) : Math.exp(s) / (1 + Math.exp(s));
      const pc = Math.min(1 - 1e-12, Math.max(1e-12, p));
      loss -= ex.weight * (ex.y === 1 ? Math.log(pc) : Math.log(1 - pc));
      wsum += ex.weight;
      const g = (p - ex.y) * ex.weight;
      opts.dense?.update(row, g);
      for (let j = 0; j < idx.length; j++) {
        const i = idx[j];
        const gi = g * val[j];
        const sigma = (Math.sqrt(n[i] + gi * gi) - Math.sqrt(n[i])) / alpha;
        z[i] += gi - sigma * w[j];
        n[i] += gi * gi;
      }
      const sigmaB = (Math.sqrt(nb + g * g) - Math.sqrt(nb)) / alpha;
      zb += g - sigmaB * b;
      nb += g * g;
      if (opts.onProgress && (k & 1023) === 1023) opts.onProgress(epoch * order.length + k + 1);
    }
    opts.dense?.endEpoch();
    opts.onEpoch?.(epoch, wsum > 0 ? loss / wsum : 0);
  }
  const weights = new Float32Array(dim);
  for (let i = 0; i < dim; i++) weights[i] = weightOf(i);
  return { weights, bias: biasOf() };
}

/** Logit of a sparse example under a linear model. */
export function sparseLogit(m: LinearModel, idx: Int32Array, val: Float32Array): number {
  let s = m.bias;
  for (let j = 0; j < idx.length; j++) s += m.weights[idx[j]] * val[j];
  return s;
}

/** Packs a trained model into the versioned artifact (int16 weights with one scale). */
export function toArtifact(
  m: LinearModel,
  features: FeatureConfig,
  threshold: number,
  modelVersion: string,
  training: unknown,
  segments?: SegmentRule,
  embedding?: EmbeddingArtifact,
): RiskArtifact {
  let maxAbs = 0;
  for (let i = 0; i < m.weights.length; i++) maxAbs = Math.max(maxAbs, Math.abs(m.weights[i]));
  const scale = maxAbs > 0 ? maxAbs / 32767 : 1;
  const bytes = new Uint8Array(m.weights.length * 2);
  for (let i = 0; i < m.weights.length; i++) {
    const q = Math.max(-32767, Math.min(32767, Math.round(m.weights[i] / scale)));
    const u = q < 0 ? q + 0x10000 : q;
    bytes[2 * i] = u & 255;
    bytes[2 * i + 1] = u >> 8;
  }
  return {
    format: ARTIFACT_FORMAT,
    formatVersion: ARTIFACT_FORMAT_VERSION,
    modelVersion,
    features,
    bias: m.bias,
    threshold,
    weightEncoding: "int16le-base64",
    weightScale: scale,
    weights: encodeBase64(bytes),
    ...(segments ? { segments } : {}),
    ...(embedding ? { embedding } : {}),
    training,
  };
}
