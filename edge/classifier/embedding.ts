/**
 * Word-embedding head of the prompt-risk classifier: a small MLP over the
 * weighted mean of pretrained word vectors (GloVe), added to the n-gram logit.
 *
 *   x      = sum_w a(w) e(w) / sum_w a(w)        over the text's words found in the vocabulary
 *   head   = w2 . relu(W1 x + b1)
 *
 * Why: n-grams only know the words of the training files. Held-out harmful
 * prompts are worded differently ("synthesize" where training said "make"), and
 * pretrained vectors put such words near each other, so the head transfers
 * what the training files teach to words they never contain.
 *
 * The artifact stores the vocabulary already projected, P(w) = W1 e(w) (int8,
 * one scale per hidden unit), so serving is a weighted mean of `hidden`-wide
 * rows: W1 x = sum_w a(w) P(w) / sum_w a(w), by linearity. Words are matched by
 * the featurizer's 32-bit FNV-1a hash of the normalised word (vocabulary.ts).
 *
 * a(w) is the smooth inverse frequency weight of Arora et al. (2017),
 * a / (a + p(w)), with p(w) from the word's frequency rank (the vocabulary is
 * stored most frequent first; Zipf: p ~ 1 / (rank + 10)): "the" and "how"
 * count little, rare content words count fully.
 */
import { decodeBase64 } from "./base64.ts";

export interface EmbeddingArtifact {
  /** where the word vectors come from (for the model card; not used by the scorer) */
  source: string;
  /** number of vocabulary rows; rows are in frequency order */
  vocab: number;
  hidden: number;
  /** SIF constant a in a / (a + p(w)) */
  sifA: number;
  /** FNV-1a 32-bit hash of each vocabulary word, little-endian uint32, base64 */
  wordHashes: string;
  /** projected rows P(w) = W1 e(w): vocab x hidden int8, base64; value = q * scales[j] */
  projected: string;
  /** per hidden unit scale of `projected` */
  scales: number[];
  b1: number[];
  w2: number[];
}

/** Zipf estimate of a word's probability from its frequency rank (0 = most frequent). */
export function rankProbability(rank: number, vocab: number): number {
  return 1 / ((rank + 10) * Math.log(vocab + 10));
}

/** SIF weight a / (a + p(w)) of the word at `rank`. */
export function sifWeight(rank: number, vocab: number, a: number): number {
  return a / (a + rankProbability(rank, vocab));
}

/** The serving half: a weighted mean of projected rows, one hidden layer. */
export class EmbeddingHead {
  readonly hidden: number;
  private readonly rows: Int8Array;
  private readonly sif: Float32Array;
  private readonly scales: Float32Array;
  private readonly b1: Float32Array;
  private readonly w2: Float32Array;

  constructor(a: EmbeddingArtifact) {
    const { vocab, hidden } = a;
    if (!(vocab > 0 && hidden > 0)) throw new Error("embedding head: vocab and hidden must be positive");
    if (a.scales.length !== hidden || a.b1.length !== hidden || a.w2.length !== hidden) {
      throw new Error(`embedding head: scales, b1 and w2 must have ${hidden} entries`);
    }
    const rows = decodeBase64(a.projected);
    if (rows.length !== vocab * hidden) throw new Error(`embedding head: ${rows.length} row bytes, expected ${vocab * hidden}`);
    this.rows = new Int8Array(rows.buffer, rows.byteOffset, rows.length);
    this.hidden = hidden;
    this.sif = new Float32Array(vocab);
    for (let r = 0; r < vocab; r++) this.sif[r] = sifWeight(r, vocab, a.sifA);
    this.scales = Float32Array.from(a.scales);
    this.b1 = Float32Array.from(a.b1);
    this.w2 = Float32Array.from(a.w2);
  }

  /**
   * Adds sum_w a(w) P(w) over the vocabulary rows `rows[from..to)` (-1 =
   * unknown word, skipped) into `acc` (length `hidden`, quantised units) and
   * returns sum_w a(w). Sums of pieces add up to the sum of the whole, so a
   * text and its sentences share this work.
   */
  accumulate(rows: Int32Array, from: number, to: number, acc: Float64Array): number {
    const H = this.hidden;
    const P = this.rows;
    let wsum = 0;
    for (let i = from; i < to; i++) {
      const r = rows[i];
      if (r < 0) continue;
      const a = this.sif[r];
      wsum += a;
      const base = r * H;
      for (let j = 0; j < H; j++) acc[j] += a * P[base + j];
    }
    return wsum;
  }

  /** Head logit w2 . relu(acc / wsum + b1) from `accumulate`'s sums (wsum 0: no known word, x = 0). */
  finish(acc: Float64Array, wsum: number): number {
    const inv = wsum > 0 ? 1 / wsum : 0;
    let z = 0;
    for (let j = 0; j < this.hidden; j++) {
      const pre = acc[j] * inv * this.scales[j] + this.b1[j];
      if (pre > 0) z += this.w2[j] * pre;
    }
    return z;
  }

  /** Head logit for the vocabulary rows `rows[from..to)`. */
  logit(rows: Int32Array, from: number, to: number): number {
    const acc = new Float64Array(this.hidden);
    return this.finish(acc, this.accumulate(rows, from, to, acc));
  }
}
