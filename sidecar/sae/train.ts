/**
 * A TopK sparse-autoencoder trainer in plain TypeScript (Gao et al. 2024,
 * "Scaling and evaluating sparse autoencoders"; EleutherAI sparsify's recipe):
 *
 *   pre = W_enc^T (x - b_dec) + b_enc;  f = TopK(ReLU(pre));  x_hat = b_dec + f W_dec
 *   loss = sum |x - x_hat|^2 / sum |x - mean|^2  (= 1 - FVE on the batch)
 *          + auxkCoef * AuxK loss (dead latents' top-auxK reconstruct the residual error)
 *
 * - Adam (betas 0.9 / 0.999), lr warmup then a linear decay over the last 20% of steps;
 * - decoder rows kept unit norm after every step, and the decoder gradient's
 *   component along each row removed before the step (as sparsify does);
 * - b_dec starts at the data mean, W_enc starts as W_dec^T;
 * - dead latents: not fired in the last `deadWindow` training tokens;
 * - deterministic for a seed (one thread, seeded shuffles and init).
 *
 * The inner loops work on preallocated Float32Arrays, four rows at a time for
 * the encoder product (each W_enc row is read once per four tokens).
 */
import type { Sae } from "./types.ts";
import { mulberry32 } from "../model/random-model.ts";

export interface TrainSaeOptions {
  /** Residual width. */
  dIn: number;
  /** Number of latents (d_sae). */
  width: number;
  k: number;
  /** Training tokens (activation vectors) to consume; the data repeats in fresh orders when shorter. */
  tokens: number;
  /** Tokens per Adam step (default 1024). */
  batchSize?: number;
  /** Peak learning rate (default 2e-4 / sqrt(width / 2^14), sparsify's rule, capped at 2e-3). */
  lr?: number;
  /** Warmup steps (default min(100, 5% of steps)). */
  warmupSteps?: number;
  seed?: number;
  /** AuxK loss coefficient (default 1/32; 0 disables). */
  auxkCoef?: number;
  /** Latents in the AuxK reconstruction (default dIn / 2). */
  auxK?: number;
  /** A latent not fired in this many training tokens is dead (default min(200k, tokens / 5)). */
  deadWindow?: number;
  /** Layer metadata for the SAE (output of block L). */
  layer?: number;
  /** Source string of the returned SAE. */
  source?: string;
  /** Called after every step. */
  onStep?: (info: StepInfo) => void;
}

export interface StepInfo {
  step: number;
  steps: number;
  tokensSeen: number;
  /** This batch's loss without AuxK (= 1 - batch FVE). */
  loss: number;
  /** Exponential moving average of the batch FVE. */
  fveEma: number;
  auxLoss: number;
  dead: number;
  lr: number;
}

export interface TrainSaeResult {
  sae: Sae;
  steps: number;
  tokensSeen: number;
  /** FVE EMA at the end of training (on training batches). */
  trainFve: number;
  /** Latents dead at the end (not fired in the last deadWindow tokens). */
  dead: number;
  deadWindow: number;
  lr: number;
  batchSize: number;
  auxkCoef: number;
  seconds: number;
  /** Every ~2% of training: step, tokens, loss, fveEma, dead. */
  history: { step: number; tokens: number; loss: number; fveEma: number; auxLoss: number; dead: number }[];
}

// mulberry32: the seeded PRNG every seeded job shares (defined in random-model.ts).
export { mulberry32 };

/** Standard normal draws from a uniform source (Box-Muller). */
export function gaussian(rand: () => number): () => number {
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    let u = 0;
    while (u === 0) u = rand();
    const v = rand();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

/** Fisher-Yates shuffle of 0..n-1 in a Uint32Array. */
export function permutation(n: number, rand: () => number): Uint32Array {
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}

/** Per-dimension mean and total variance (sum over dims of the per-dim variance) of rows [n, d]. */
export function dataStats(data: Float32Array, d: number): { mean: Float64Array; variance: number } {
  const n = data.length / d;
  const mean = new Float64Array(d);
  for (let r = 0; r < n; r++) {
    const o = r * d;
    for (let i = 0; i < d; i++) mean[i] += data[o + i];
  }
  for (let i = 0; i < d; i++) mean[i] /= n;
  let ss = 0;
  for (let r = 0; r < n; r++) {
    const o = r * d;
    for (let i = 0; i < d; i++) {
      const c = data[o + i] - mean[i];
      ss += c * c;
    }
  }
  return { mean, variance: ss / n };
}

/**
 * Pre-activations of up to 4 rows at once, from the encoder in latent-major
 * layout wT [N, d] (wT[j*d + i] = W_enc[i, j]):
 * pre[r*N + j] = b_enc[j] + sum_i xc[r*d + i] wT[j*d + i].
 * Four register accumulators share each weight read; no stores in the inner loop.
 */
function encoderPre(pre: Float32Array, xc: Float32Array, xOff: number, rows: number, d: number, N: number, wT: Float32Array, bEnc: Float32Array): void {
  if (rows === 4) {
    const d1 = xOff + d, d2 = xOff + 2 * d, d3 = xOff + 3 * d, N2 = 2 * N, N3 = 3 * N;
    let j = 0;
    // two latents x four rows per pass: 8 register accumulators
    for (; j + 2 <= N; j += 2) {
      const w = j * d, w2 = w + d;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0, t0 = 0, t1 = 0, t2 = 0, t3 = 0;
      for (let i = 0; i < d; i++) {
        const a = wT[w + i], b = wT[w2 + i];
        const x0 = xc[xOff + i], x1 = xc[d1 + i], x2 = xc[d2 + i], x3 = xc[d3 + i];
        s0 += a * x0; s1 += a * x1; s2 += a * x2; s3 += a * x3;
        t0 += b * x0; t1 += b * x1; t2 += b * x2; t3 += b * x3;
      }
      const ba = bEnc[j], bb = bEnc[j + 1];
      pre[j] = s0 + ba; pre[N + j] = s1 + ba; pre[N2 + j] = s2 + ba; pre[N3 + j] = s3 + ba;
      pre[j + 1] = t0 + bb; pre[N + j + 1] = t1 + bb; pre[N2 + j + 1] = t2 + bb; pre[N3 + j + 1] = t3 + bb;
    }
    for (; j < N; j++) {
      const w = j * d;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let i = 0; i < d; i++) {
        const a = wT[w + i];
        s0 += a * xc[xOff + i]; s1 += a * xc[d1 + i]; s2 += a * xc[d2 + i]; s3 += a * xc[d3 + i];
      }
      const ba = bEnc[j];
      pre[j] = s0 + ba; pre[N + j] = s1 + ba; pre[N2 + j] = s2 + ba; pre[N3 + j] = s3 + ba;
    }
    return;
  }
  for (let r = 0; r < rows; r++) {
    const o = r * N, xo = xOff + r * d;
    for (let j = 0; j < N; j++) {
      const w = j * d;
      let s0 = 0;
      for (let i = 0; i < d; i++) s0 += wT[w + i] * xc[xo + i];
      pre[o + j] = s0 + bEnc[j];
    }
  }
}

/** [rows, cols] row-major -> [cols, rows] row-major. */
export function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c];
  return out;
}

/**
 * Top-k of pre[off .. off+N) among values > 0 (ReLU first), optionally only
 * where `allowed[j]` is 1. Writes indices/values (descending, ties: lower
 * index first) into idx/val at `outOff`; unused slots get value 0 and index -1.
 * Returns how many were found.
 */
function topK(pre: Float32Array, off: number, N: number, k: number, idx: Int32Array, val: Float32Array, outOff: number, allowed?: Uint8Array): number {
  let count = 0;
  let min = 0; // only positive values enter (ReLU)
  for (let j = 0; j < N; j++) {
    const v = pre[off + j];
    if (v <= min && (count === k || v <= 0)) continue;
    if (allowed && allowed[j] === 0) continue;
    // insert v keeping val[outOff .. outOff+count) descending
    let p = count < k ? count : k - 1;
    while (p > 0 && val[outOff + p - 1] < v) {
      val[outOff + p] = val[outOff + p - 1];
      idx[outOff + p] = idx[outOff + p - 1];
      p--;
    }
    val[outOff + p] = v;
    idx[outOff + p] = j;
    if (count < k) count++;
    if (count === k) min = val[outOff + k - 1];
  }
  for (let t = count; t < k; t++) {
    val[outOff + t] = 0;
    idx[outOff + t] = -1;
  }
  return count;
}

class Adam {
  readonly m: Float32Array;
  readonly v: Float32Array;
  constructor(n: number) {
    this.m = new Float32Array(n);
    this.v = new Float32Array(n);
  }
  step(p: Float32Array, g: Float32Array, lr: number, t: number, b1 = 0.9, b2 = 0.999, eps = 1e-8): void {
    const { m, v } = this;
    const c1 = 1 - b1 ** t;
    const c2 = 1 - b2 ** t;
    const stepSize = lr / c1;
    const sc2 = 1 / Math.sqrt(c2);
    for (let i = 0; i < p.length; i++) {
      const gi = g[i];
      const mi = (m[i] = b1 * m[i] + (1 - b1) * gi);
      const vi = (v[i] = b2 * v[i] + (1 - b2) * gi * gi);
      p[i] -= (stepSize * mi) / (Math.sqrt(vi) * sc2 + eps);
    }
  }
}

function normalizeRows(w: Float32Array, rows: number, d: number): void {
  for (let j = 0; j < rows; j++) {
    const o = j * d;
    let ss = 0;
    for (let i = 0; i < d; i++) ss += w[o + i] * w[o + i];
    const s = ss > 0 ? 1 / Math.sqrt(ss) : 0;
    for (let i = 0; i < d; i++) w[o + i] *= s;
  }
}

/** The default learning rate for a width (sparsify's 2e-4 / sqrt(width / 2^14), capped at 2e-3). */
export function defaultLr(width: number): number {
  return Math.min(2e-3, 2e-4 / Math.sqrt(width / 2 ** 14));
}

/** Trainable parameters, encoder latent-major: wEncT[j*d + i] = W_enc[i, j]. */
export interface TopKParams {
  d: number;
  N: number;
  k: number;
  wEncT: Float32Array;
  bEnc: Float32Array;
  wDec: Float32Array;
  bDec: Float32Array;
}

/** Gradients, same layouts as TopKParams. */
export interface TopKGrads {
  wEncT: Float32Array;
  bEnc: Float32Array;
  wDec: Float32Array;
  bDec: Float32Array;
}

export function zeroGrads(p: TopKParams): TopKGrads {
  return { wEncT: new Float32Array(p.N * p.d), bEnc: new Float32Array(p.N), wDec: new Float32Array(p.N * p.d), bDec: new Float32Array(p.d) };
}

/** Scratch buffers for up to `maxRows` rows per batch. */
export class TopKWorkspace {
  readonly xc: Float32Array;
  readonly pre: Float32Array;
  readonly idx: Int32Array;
  readonly val: Float32Array;
  readonly auxIdx: Int32Array;
  readonly auxVal: Float32Array;
  readonly err: Float32Array;
  readonly auxErr: Float32Array;
  readonly g: Float32Array;
  readonly gx: Float32Array;
  readonly resMean: Float64Array;
  constructor(readonly d: number, readonly N: number, readonly k: number, readonly auxK: number, readonly maxRows: number) {
    this.xc = new Float32Array(maxRows * d);
    this.pre = new Float32Array(4 * N);
    this.idx = new Int32Array(maxRows * k);
    this.val = new Float32Array(maxRows * k);
    this.auxIdx = new Int32Array(maxRows * auxK);
    this.auxVal = new Float32Array(maxRows * auxK);
    this.err = new Float32Array(maxRows * d);
    this.auxErr = new Float32Array(maxRows * d);
    this.g = new Float32Array(d);
    this.gx = new Float32Array(d);
    this.resMean = new Float64Array(d);
  }
}

export interface ForwardBackwardOptions {
  /** Loss = SSE / (rows * varDenom): with the data's total variance, 1 - batch FVE. */
  varDenom: number;
  /** AuxK coefficient (0: none) and the dead-latent mask it draws from. */
  auxkCoef?: number;
  dead?: Uint8Array;
  deadCount?: number;
}

/**
 * One forward and backward pass over `rows` rows of `batch` ([rows, d]):
 * writes the gradient of  SSE / (rows * varDenom)  (+ auxkCoef * AuxK loss,
 * whose target and normaliser are treated as constants) into `grads`
 * (overwritten), and leaves each row's selected latents in ws.idx / ws.val.
 * Returns the main loss and the AuxK loss (before its coefficient).
 */
/** out[eo .. eo+d) += sum_t val[t] W_dec[idx[t]] over one row's selected latents (idx -1 ends the list). */
function addDecoded(out: Float32Array, eo: number, idx: Int32Array, val: Float32Array, off: number, count: number, wDec: Float32Array, d: number): void {
  for (let t = 0; t < count; t++) {
    const j = idx[off + t];
    if (j < 0) break;
    const a = val[off + t];
    const wo = j * d;
    for (let i = 0; i < d; i++) out[eo + i] += a * wDec[wo + i];
  }
}

/**
 * Backpropagates g (dLoss/dx_hat of one row) through that row's selected
 * latents a_t = pre[j_t]: adds into grads' W_dec, b_enc and W_enc, and into gx
 * (dLoss/d(x - b_dec) through the encoder) when given.
 */
function backpropLatents(
  g: Float32Array,
  idx: Int32Array,
  val: Float32Array,
  off: number,
  count: number,
  p: TopKParams,
  xc: Float32Array,
  eo: number,
  grads: TopKGrads,
  gx: Float32Array | null,
): void {
  const { d, wDec, wEncT } = p;
  const gWDec = grads.wDec, gWEnc = grads.wEncT, gBEnc = grads.bEnc;
  for (let t = 0; t < count; t++) {
    const j = idx[off + t];
    if (j < 0) break;
    const a = val[off + t];
    const wo = j * d;
    let da = 0;
    for (let i = 0; i < d; i++) {
      gWDec[wo + i] += a * g[i];
      da += g[i] * wDec[wo + i];
    }
    gBEnc[j] += da;
    for (let i = 0; i < d; i++) gWEnc[wo + i] += da * xc[eo + i];
    if (gx) for (let i = 0; i < d; i++) gx[i] += da * wEncT[wo + i];
  }
}

export function forwardBackward(p: TopKParams, grads: TopKGrads, ws: TopKWorkspace, batch: Float32Array, rows: number, o: ForwardBackwardOptions): { loss: number; auxLoss: number } {
  const { d, N, k, wEncT, bEnc, wDec, bDec } = p;
  const { xc, pre, idx, val, auxIdx, auxVal, err, auxErr, g, gx } = ws;
  const auxK = ws.auxK;
  const auxkCoef = o.auxkCoef ?? 0;
  const useAux = auxkCoef > 0 && o.dead !== undefined && (o.deadCount ?? 1) > 0;

  // --- forward: top-k (and AuxK) selection, reconstruction error ---
  for (let r = 0; r < rows; r++) {
    const src = r * d;
    for (let i = 0; i < d; i++) xc[src + i] = batch[src + i] - bDec[i];
  }
  let sse = 0;
  for (let r0 = 0; r0 < rows; r0 += 4) {
    const ch = Math.min(4, rows - r0);
    encoderPre(pre, xc, r0 * d, ch, d, N, wEncT, bEnc);
    for (let c = 0; c < ch; c++) {
      const r = r0 + c;
      topK(pre, c * N, N, k, idx, val, r * k);
      if (useAux) topK(pre, c * N, N, auxK, auxIdx, auxVal, r * auxK, o.dead);
      // err = x_hat - x = sum_t a_t W_dec[j_t] - (x - b_dec)
      const eo = r * d;
      for (let i = 0; i < d; i++) err[eo + i] = -xc[eo + i];
      addDecoded(err, eo, idx, val, r * k, k, wDec, d);
      for (let i = 0; i < d; i++) sse += err[eo + i] * err[eo + i];
    }
  }
  const loss = sse / (rows * o.varDenom);

  // AuxK: the dead latents' top-auxK reconstruct the residual x - x_hat (= -err), normalised by its variance
  let auxLoss = 0;
  let auxScale = 0;
  if (useAux) {
    const resMean = ws.resMean;
    resMean.fill(0);
    for (let r = 0; r < rows; r++) for (let i = 0; i < d; i++) resMean[i] -= err[r * d + i];
    for (let i = 0; i < d; i++) resMean[i] /= rows;
    let resVar = 0;
    let auxSse = 0;
    for (let r = 0; r < rows; r++) {
      const eo = r * d;
      for (let i = 0; i < d; i++) {
        const res = -err[eo + i];
        resVar += (res - resMean[i]) ** 2;
        auxErr[eo + i] = -res;
      }
      addDecoded(auxErr, eo, auxIdx, auxVal, r * auxK, auxK, wDec, d);
      for (let i = 0; i < d; i++) auxSse += auxErr[eo + i] * auxErr[eo + i];
    }
    const weight = Math.min(1, (o.deadCount ?? auxK) / auxK);
    if (resVar > 0) {
      auxLoss = auxSse / resVar;
      auxScale = (auxkCoef * weight * 2) / resVar;
    }
  }

  // --- backward ---
  const gWEnc = grads.wEncT, gWDec = grads.wDec, gBEnc = grads.bEnc, gBDec = grads.bDec;
  gWEnc.fill(0);
  gWDec.fill(0);
  gBEnc.fill(0);
  gBDec.fill(0);
  const scale = 2 / (rows * o.varDenom);
  for (let r = 0; r < rows; r++) {
    const eo = r * d;
    for (let i = 0; i < d; i++) {
      g[i] = scale * err[eo + i];
      gBDec[i] += g[i];
      gx[i] = 0;
    }
    backpropLatents(g, idx, val, r * k, k, p, xc, eo, grads, gx);
    // x - b_dec feeds the encoder: that path's gradient for b_dec is -gx
    for (let i = 0; i < d; i++) gBDec[i] -= gx[i];
    if (auxScale > 0) {
      for (let i = 0; i < d; i++) g[i] = auxScale * auxErr[eo + i];
      // (the AuxK target is a constant: no gradient through x - b_dec)
      backpropLatents(g, auxIdx, auxVal, r * auxK, auxK, p, xc, eo, grads, null);
    }
  }
  return { loss, auxLoss };
}

/** Trains a TopK SAE on activation rows `data` ([n, dIn] row-major). */
export function trainTopKSae(data: Float32Array, opts: TrainSaeOptions): TrainSaeResult {
  const t0 = performance.now();
  const d = opts.dIn;
  const N = opts.width;
  const k = opts.k;
  const n = data.length / d;
  if (!Number.isInteger(n) || n < 1) throw new Error(`train: ${data.length} values is not a positive multiple of d_in = ${d}`);
  if (!(Number.isInteger(k) && k >= 1 && k <= N)) throw new Error(`train: k = ${k} must be an integer in [1, width = ${N}]`);
  const B = opts.batchSize ?? 1024;
  const steps = Math.max(1, Math.ceil(opts.tokens / B));
  const lr = opts.lr ?? defaultLr(N);
  const warmup = opts.warmupSteps ?? Math.min(100, Math.ceil(steps * 0.05));
  const auxkCoef = opts.auxkCoef ?? 1 / 32;
  const auxK = Math.min(opts.auxK ?? Math.max(1, Math.floor(d / 2)), N);
  const deadWindow = opts.deadWindow ?? Math.max(1, Math.min(200_000, Math.floor(opts.tokens / 5)));
  const rand = mulberry32(opts.seed ?? 0);
  const randn = gaussian(rand);

  // --- parameters: unit-norm random decoder rows, W_enc = W_dec^T, b_dec = data mean ---
  const wDec = new Float32Array(N * d);
  for (let i = 0; i < wDec.length; i++) wDec[i] = randn();
  normalizeRows(wDec, N, d);
  const stats = dataStats(data, d);
  const p: TopKParams = { d, N, k, wEncT: Float32Array.from(wDec), bEnc: new Float32Array(N), wDec, bDec: Float32Array.from(stats.mean) };
  const varDenom = stats.variance > 0 ? stats.variance : 1;
  const grads = zeroGrads(p);
  const aWEnc = new Adam(d * N), aWDec = new Adam(N * d), aBEnc = new Adam(N), aBDec = new Adam(d);
  const ws = new TopKWorkspace(d, N, k, auxK, B);
  const batch = new Float32Array(B * d);
  const lastFired = new Float64Array(N); // token count when each latent last fired
  const dead = new Uint8Array(N);

  let order = permutation(n, rand);
  let cursor = 0;
  let tokensSeen = 0;
  let fveEma = 0;
  let emaWeight = 0;
  let deadCount = 0;
  const history: TrainSaeResult["history"] = [];
  const historyEvery = Math.max(1, Math.floor(steps / 50));
  const decayStart = Math.floor(steps * 0.8);

  for (let step = 1; step <= steps; step++) {
    const rows = Math.min(B, opts.tokens - (step - 1) * B) || B;
    for (let r = 0; r < rows; r++) {
      if (cursor === n) {
        order = permutation(n, rand);
        cursor = 0;
      }
      const src = order[cursor++] * d;
      batch.set(data.subarray(src, src + d), r * d);
    }
    // dead latents as of the start of this step
    deadCount = 0;
    for (let j = 0; j < N; j++) {
      dead[j] = tokensSeen - lastFired[j] >= deadWindow ? 1 : 0;
      deadCount += dead[j];
    }
    const { loss, auxLoss } = forwardBackward(p, grads, ws, batch, rows, { varDenom, auxkCoef, dead, deadCount });
    for (let r = 0; r < rows; r++) {
      for (let t = 0; t < k; t++) {
        const j = ws.idx[r * k + t];
        if (j < 0) break;
        lastFired[j] = tokensSeen + r + 1;
      }
    }
    // remove each decoder row's gradient component along the row (its norm is fixed anyway)
    for (let j = 0; j < N; j++) {
      const wo = j * d;
      let dot = 0;
      for (let i = 0; i < d; i++) dot += grads.wDec[wo + i] * wDec[wo + i];
      if (dot !== 0) for (let i = 0; i < d; i++) grads.wDec[wo + i] -= dot * wDec[wo + i];
    }

    // --- Adam step, learning-rate schedule, unit-norm decoder ---
    let lrNow = lr;
    if (step <= warmup) lrNow = (lr * step) / warmup;
    else if (step > decayStart) lrNow = (lr * (steps - step + 1)) / (steps - decayStart + 1);
    aWEnc.step(p.wEncT, grads.wEncT, lrNow, step);
    aWDec.step(wDec, grads.wDec, lrNow, step);
    aBEnc.step(p.bEnc, grads.bEnc, lrNow, step);
    aBDec.step(p.bDec, grads.bDec, lrNow, step);
    normalizeRows(wDec, N, d);

    tokensSeen += rows;
    emaWeight = 0.95 * emaWeight + 0.05;
    fveEma = 0.95 * fveEma + 0.05 * (1 - loss);
    const info: StepInfo = { step, steps, tokensSeen, loss, fveEma: fveEma / emaWeight, auxLoss, dead: deadCount, lr: lrNow };
    if (step % historyEvery === 0 || step === steps) {
      history.push({ step, tokens: tokensSeen, loss: round(loss), fveEma: round(info.fveEma), auxLoss: round(auxLoss), dead: deadCount });
    }
    opts.onStep?.(info);
  }
  deadCount = 0;
  for (let j = 0; j < N; j++) if (tokensSeen - lastFired[j] >= deadWindow) deadCount++;

  const sae: Sae = {
    architecture: "topk", dIn: d, dSae: N, wEnc: transpose(p.wEncT, N, d), bEnc: p.bEnc, wDec, bDec: p.bDec, k,
    applyBDecToInput: true, layer: opts.layer, source: opts.source ?? "trainTopKSae",
  };
  return {
    sae, steps, tokensSeen, trainFve: fveEma / (emaWeight || 1), dead: deadCount, deadWindow, lr, batchSize: B, auxkCoef,
    seconds: (performance.now() - t0) / 1000, history,
  };
}

function round(x: number): number {
  return Number(x.toPrecision(6));
}

export interface SaeEvaluation {
  /** Fraction of variance explained: 1 - sum |x - x_hat|^2 / sum |x - mean|^2 (mean of this set). */
  fve: number;
  /** Mean squared error per vector (sum over dims). */
  mse: number;
  /** Mean number of active latents per vector. */
  l0: number;
  /** Latents that never fired on this set. */
  neverFired: number;
  tokens: number;
}

/**
 * Evaluates a TopK SAE on rows [n, dIn] with the trainer's fast kernels
 * (float32 accumulation; agrees with encode.ts's float64 reference to rounding).
 */
export function evaluateTopKSae(sae: Sae, data: Float32Array): SaeEvaluation {
  if (sae.architecture !== "topk" || !sae.k) throw new Error(`${sae.source}: evaluateTopKSae needs a TopK SAE`);
  const d = sae.dIn, N = sae.dSae, k = sae.k;
  const n = data.length / d;
  if (!Number.isInteger(n) || n < 1) throw new Error(`evaluate: ${data.length} values is not a positive multiple of d_in = ${d}`);
  const { variance } = dataStats(data, d);
  const CH = 4;
  const xc = new Float32Array(CH * d);
  const pre = new Float32Array(CH * N);
  const idx = new Int32Array(CH * k);
  const val = new Float32Array(CH * k);
  const fired = new Uint8Array(N);
  const y = new Float64Array(d);
  const wT = transpose(sae.wEnc, d, N);
  let sse = 0;
  let active = 0;
  for (let r0 = 0; r0 < n; r0 += CH) {
    const ch = Math.min(CH, n - r0);
    for (let c = 0; c < ch; c++) {
      for (let i = 0; i < d; i++) xc[c * d + i] = sae.applyBDecToInput ? data[(r0 + c) * d + i] - sae.bDec[i] : data[(r0 + c) * d + i];
    }
    encoderPre(pre, xc, 0, ch, d, N, wT, sae.bEnc);
    for (let c = 0; c < ch; c++) {
      const cnt = topK(pre, c * N, N, k, idx, val, c * k);
      active += cnt;
      for (let i = 0; i < d; i++) y[i] = sae.bDec[i];
      for (let t = 0; t < cnt; t++) {
        const j = idx[c * k + t];
        fired[j] = 1;
        const a = val[c * k + t];
        for (let i = 0; i < d; i++) y[i] += a * sae.wDec[j * d + i];
      }
      const o = (r0 + c) * d;
      for (let i = 0; i < d; i++) sse += (data[o + i] - y[i]) ** 2;
    }
  }
  let never = 0;
  for (let j = 0; j < N; j++) if (!fired[j]) never++;
  const sst = variance * n;
  return { fve: sst > 0 ? 1 - sse / sst : sse === 0 ? 1 : 0, mse: sse / n, l0: active / n, neverFired: never, tokens: n };
}
