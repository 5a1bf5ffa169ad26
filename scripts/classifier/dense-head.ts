/**
 * Training half of the embedding head (edge/classifier/embedding.ts):
 * SIF-weighted mean word vectors per text, a one-hidden-layer MLP trained with
 * mini-batch Adam alongside FTRL (see `trainFtrl`'s `dense` option), and the
 * projection of the whole vocabulary through W1 into the artifact's int8 rows.
 */
import type { Featurizer } from "../../edge/classifier/features.ts";
import { sifWeight, type EmbeddingArtifact } from "../../edge/classifier/embedding.ts";
import { encodeBase64 } from "../../edge/classifier/base64.ts";
import type { WordVectors } from "./glove.ts";
import type { DenseTerm } from "./train-lib.ts";
import { mulberry32 } from "./train-lib.ts";
import { Adam } from "./adam.ts";

export interface DenseOptions {
  hidden: number;
  sifA: number;
  /** Adam step size */
  lr: number;
  /** L2 penalty on W1 and w2 (decoupled weight decay per step, times lr) */
  l2: number;
  batch: number;
  seed: number;
}

export const DEFAULT_DENSE: Omit<DenseOptions, "seed"> = { hidden: 32, sifA: 1e-3, lr: 2e-3, l2: 1e-4, batch: 32 };

/** Row lookup by word hash, as the scorer does it. */
export function rowIndex(wv: WordVectors): Map<number, number> {
  const m = new Map<number, number>();
  wv.hashes.forEach((h, r) => m.set(h, r));
  return m;
}

/** SIF-weighted mean vector of each text's known words (zeros when none is known). */
export function pooledVectors(f: Featurizer, wv: WordVectors, texts: readonly string[], sifA: number): Float32Array {
  return pooledFromWords(
    wv,
    texts.map((t) => {
      f.indices(t);
      return f.wordHashes().slice();
    }),
    sifA,
  );
}

/** The same from each text's word hashes (`Featurizer.wordHashes`), for a caller that featurised already. */
export function pooledFromWords(wv: WordVectors, wordHashes: readonly Int32Array[], sifA: number): Float32Array {
  const D = wv.dim;
  const rows = rowIndex(wv);
  const V = wv.words.length;
  const out = new Float32Array(wordHashes.length * D);
  const acc = new Float64Array(D);
  wordHashes.forEach((hs, i) => {
    acc.fill(0);
    let wsum = 0;
    for (const h of hs) {
      const r = rows.get(h);
      if (r === undefined) continue;
      const a = sifWeight(r, V, sifA);
      wsum += a;
      for (let d = 0; d < D; d++) acc[d] += a * wv.vectors[r * D + d];
    }
    if (wsum > 0) for (let d = 0; d < D; d++) out[i * D + d] = acc[d] / wsum;
  });
  return out;
}

/** The MLP w2 . relu(W1 x + b1), trained with mini-batch Adam. */
export class DenseHead implements DenseTerm {
  readonly W1: Float64Array;
  readonly b1: Float64Array;
  readonly w2: Float64Array;
  private readonly adam: Adam;
  private readonly pre: Float64Array;
  private pending = 0;

  constructor(
    private readonly x: Float32Array,
    readonly dim: number,
    private readonly opts: DenseOptions,
  ) {
    const H = opts.hidden;
    const rng = mulberry32(opts.seed ^ 0x5eed);
    const gauss = () => Math.sqrt(-2 * Math.log(rng() + 1e-12)) * Math.cos(2 * Math.PI * rng());
    // GloVe coordinates are O(0.5); He-style init for the ReLU layer.
    this.W1 = Float64Array.from({ length: H * dim }, () => gauss() * Math.sqrt(2 / dim));
    this.b1 = new Float64Array(H);
    this.w2 = Float64Array.from({ length: H }, () => gauss() * 0.1);
    this.adam = new Adam([this.W1, this.b1, this.w2], opts, new Set([this.b1]));
    this.pre = new Float64Array(H);
  }

  /** Head logit of training example i (and keeps its pre-activations for `update`). */
  logit(i: number): number {
    return this.forward(this.x.subarray(i * this.dim, (i + 1) * this.dim), this.pre);
  }

  forward(x: ArrayLike<number>, pre: Float64Array = new Float64Array(this.opts.hidden)): number {
    const { W1, b1, w2, dim } = this;
    let z = 0;
    for (let j = 0; j < pre.length; j++) {
      let s = b1[j];
      const base = j * dim;
      for (let d = 0; d < dim; d++) s += W1[base + d] * x[d];
      pre[j] = s;
      if (s > 0) z += w2[j] * s;
    }
    return z;
  }

  /** Accumulates the gradient of example i for dloss/dlogit = g; steps every `batch` examples. */
  update(i: number, g: number): void {
    const { dim } = this;
    const x = this.x.subarray(i * dim, (i + 1) * dim);
    const [gW1, gb1, gw2] = this.adam.grads;
    for (let j = 0; j < this.pre.length; j++) {
      const p = this.pre[j];
      if (p <= 0) continue;
      gw2[j] += g * p;
      const gj = g * this.w2[j];
      gb1[j] += gj;
      const base = j * dim;
      for (let d = 0; d < dim; d++) gW1[base + d] += gj * x[d];
    }
    if (++this.pending >= this.opts.batch) this.endEpoch();
  }

  /** Applies the pending partial batch (also called at the end of an epoch). */
  endEpoch(): void {
    if (this.pending > 0) this.adam.step(this.pending);
    this.pending = 0;
  }

  /** The artifact block: every vocabulary row projected through W1, int8 per hidden unit. */
  toArtifact(wv: WordVectors, source: string): EmbeddingArtifact {
    const H = this.opts.hidden;
    const D = this.dim;
    const V = wv.words.length;
    const proj = new Float64Array(V * H);
    const maxAbs = new Float64Array(H);
    for (let r = 0; r < V; r++) {
      for (let j = 0; j < H; j++) {
        let s = 0;
        for (let d = 0; d < D; d++) s += this.W1[j * D + d] * wv.vectors[r * D + d];
        proj[r * H + j] = s;
        maxAbs[j] = Math.max(maxAbs[j], Math.abs(s));
      }
    }
    const scales = Array.from(maxAbs, (m) => (m > 0 ? m / 127 : 1));
    const q = new Uint8Array(V * H);
    for (let r = 0; r < V; r++) {
      for (let j = 0; j < H; j++) q[r * H + j] = Math.max(-127, Math.min(127, Math.round(proj[r * H + j] / scales[j]))) & 255;
    }
    const hb = new Uint8Array(V * 4);
    for (let r = 0; r < V; r++) {
      const h = wv.hashes[r];
      hb[4 * r] = h & 255;
      hb[4 * r + 1] = (h >>> 8) & 255;
      hb[4 * r + 2] = (h >>> 16) & 255;
      hb[4 * r + 3] = (h >>> 24) & 255;
    }
    return {
      source,
      vocab: V,
      hidden: H,
      sifA: this.opts.sifA,
      wordHashes: encodeBase64(hb),
      projected: encodeBase64(q),
      scales,
      b1: Array.from(this.b1),
      w2: Array.from(this.w2),
    };
  }
}
