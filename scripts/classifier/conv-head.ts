/**
 * EXPERIMENT (training side only; the scorer has no counterpart): a
 * convolutional window head over frozen GloVe vectors, max-pooled over word
 * positions (Kim 2014), for short prompts only:
 *
 *   h_p   = b + sum_{k=0..2} W_k e(w_{p+k-1})       (zero vector outside the text or for unknown words)
 *   head  = w2 . relu(max_p h_p)
 *
 * A window sees which word follows which ("beat my wife" vs "beat ... in
 * checkers"), which the mean head cannot.
 */
import { Adam } from "./adam.ts";
import type { DenseTerm } from "./train-lib.ts";
import { mulberry32 } from "./train-lib.ts";
import type { WordVectors } from "./glove.ts";

export interface ConvOptions {
  hidden: number;
  /** texts with more words get no conv term */
  maxWords: number;
  lr: number;
  l2: number;
  batch: number;
  seed: number;
}

const K = 3;

export class ConvHead implements DenseTerm {
  readonly W: Float64Array;
  readonly b: Float64Array;
  readonly w2: Float64Array;
  private readonly adam: Adam;
  private readonly D: number;
  private readonly H: number;
  private proj = new Float64Array(0);
  /** max and argmax position of each unit for the last forward */
  private readonly m: Float64Array;
  private readonly arg: Int32Array;
  private lastRows: Int32Array = new Int32Array(0);
  private pending = 0;

  constructor(
    private readonly wv: WordVectors,
    /** per training example: GloVe rows of its words (-1 unknown), or null = no conv term */
    private readonly examples: (Int32Array | null)[],
    private readonly opts: ConvOptions,
  ) {
    this.D = wv.dim;
    this.H = opts.hidden;
    const rng = mulberry32(opts.seed ^ 0xc0);
    const gauss = () => Math.sqrt(-2 * Math.log(rng() + 1e-12)) * Math.cos(2 * Math.PI * rng());
    this.W = Float64Array.from({ length: this.H * K * this.D }, () => gauss() * Math.sqrt(2 / (K * this.D)));
    this.b = new Float64Array(this.H);
    this.w2 = Float64Array.from({ length: this.H }, () => gauss() * 0.1);
    this.adam = new Adam([this.W, this.b, this.w2], opts, new Set([this.b]));
    this.m = new Float64Array(this.H);
    this.arg = new Int32Array(this.H);
  }

  /** Head logit of GloVe rows (max-pooled windows); keeps the activations for update. */
  forwardRows(rows: Int32Array): number {
    const { D, H, W, b, w2, m, arg } = this;
    const n = rows.length;
    this.lastRows = rows;
    if (n === 0 || n > this.opts.maxWords) {
      m.fill(0);
      return 0;
    }
    if (this.proj.length < n * K * H) this.proj = new Float64Array(n * K * H * 2);
    const proj = this.proj;
    const V = this.wv.vectors;
    for (let q = 0; q < n; q++) {
      const r = rows[q];
      for (let k = 0; k < K; k++) {
        for (let j = 0; j < H; j++) {
          let s = 0;
          if (r >= 0) {
            const wb = (j * K + k) * D;
            const eb = r * D;
            for (let d = 0; d < D; d++) s += W[wb + d] * V[eb + d];
          }
          proj[(q * K + k) * H + j] = s;
        }
      }
    }
    m.fill(-Infinity);
    for (let p = 0; p < n; p++) {
      for (let j = 0; j < H; j++) {
        let h = b[j];
        for (let k = 0; k < K; k++) {
          const q = p + k - 1;
          if (q >= 0 && q < n) h += proj[(q * K + k) * H + j];
        }
        if (h > m[j]) {
          m[j] = h;
          arg[j] = p;
        }
      }
    }
    let z = 0;
    for (let j = 0; j < H; j++) if (m[j] > 0) z += w2[j] * m[j];
    return z;
  }

  logit(i: number): number {
    const rows = this.examples[i];
    return rows ? this.forwardRows(rows) : this.forwardRows(new Int32Array(0));
  }

  update(_i: number, g: number): void {
    const { D, H, w2, m, arg, lastRows } = this;
    const n = lastRows.length;
    if (n > 0 && n <= this.opts.maxWords) {
      const [gW, gb, gw2] = this.adam.grads;
      const V = this.wv.vectors;
      for (let j = 0; j < H; j++) {
        if (!(m[j] > 0)) continue;
        gw2[j] += g * m[j];
        const gj = g * w2[j];
        gb[j] += gj;
        for (let k = 0; k < K; k++) {
          const q = arg[j] + k - 1;
          if (q < 0 || q >= n || lastRows[q] < 0) continue;
          const wb = (j * K + k) * D;
          const eb = lastRows[q] * D;
          for (let d = 0; d < D; d++) gW[wb + d] += gj * V[eb + d];
        }
      }
    }
    if (++this.pending >= this.opts.batch) this.endEpoch();
  }

  endEpoch(): void {
    if (this.pending > 0) this.adam.step(this.pending);
    this.pending = 0;
  }
}

/** Two dense terms added together (each gets the whole gradient). */
export class SumTerm implements DenseTerm {
  constructor(private readonly terms: DenseTerm[]) {}
  logit(i: number): number {
    let z = 0;
    for (const t of this.terms) z += t.logit(i);
    return z;
  }
  update(i: number, g: number): void {
    for (const t of this.terms) t.update(i, g);
  }
  endEpoch(): void {
    for (const t of this.terms) t.endEpoch();
  }
}
