/**
 * The second stage's probe: a logit from a sentence embedding e.
 *
 *   linear (format 1, or no `hidden`):  logit = w . e + b
 *   one hidden layer (format 2):        h = relu(W e + c),  logit = w . h + b
 *
 * W is stored as little-endian float32, row-major (units x dim), in base64;
 * the trainer computes its threshold with these float32 weights, so the edge
 * scores exactly what was fitted.
 */
import { decodeBase64 } from "../classifier/base64.ts";

export interface ProbeWeights {
  /** output weights: one per embedding dimension (linear) or per hidden unit */
  w: number[];
  b: number;
  hidden?: {
    units: number;
    /** base64 of float32 LE, units x dim, row-major */
    W: string;
    /** one bias per unit */
    b: number[];
  };
}

export class ProbeHead {
  /** the embedding size the probe reads */
  readonly dim: number;
  private readonly out: Float64Array;
  private readonly W: Float32Array | undefined;
  private readonly c: Float64Array | undefined;

  constructor(private readonly p: ProbeWeights) {
    if (!Array.isArray(p?.w) || !p.w.every(Number.isFinite) || !Number.isFinite(p.b)) throw new Error("second stage: probe weights missing or not finite");
    this.out = Float64Array.from(p.w);
    if (p.hidden === undefined) {
      this.dim = p.w.length;
      return;
    }
    const { units, W, b } = p.hidden;
    if (!(Number.isInteger(units) && units > 0 && units === p.w.length)) throw new Error("second stage: hidden units must equal the output weights");
    if (!Array.isArray(b) || b.length !== units || !b.every(Number.isFinite)) throw new Error("second stage: one hidden bias per unit");
    const bytes = decodeBase64(W);
    if (bytes.length % (4 * units) !== 0 || bytes.length === 0) throw new Error("second stage: hidden weights are not units x dim float32");
    this.W = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4).slice();
    if (!this.W.every(Number.isFinite)) throw new Error("second stage: hidden weights not finite");
    this.c = Float64Array.from(b);
    this.dim = this.W.length / units;
  }

  /** The probe's logit of an embedding of `dim` values. */
  logit(e: ArrayLike<number>): number {
    if (e.length !== this.dim) throw new Error(`second stage: embedding has ${e.length} dimensions, probe ${this.dim}`);
    if (!this.W) return this.p.b + dot(this.out, 0, e);
    let z = this.p.b;
    for (let j = 0; j < this.out.length; j++) {
      const a = this.c![j]! + dot(this.W, j * this.dim, e);
      if (a > 0) z += this.out[j]! * a;
    }
    return z;
  }
}

/** w[off .. off + e.length) . e */
function dot(w: ArrayLike<number>, off: number, e: ArrayLike<number>): number {
  let z = 0;
  for (let i = 0; i < e.length; i++) z += w[off + i]! * e[i]!;
  return z;
}
