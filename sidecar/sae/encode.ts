/**
 * The plain-TypeScript SAE math: the reference the graph hook and the trainer
 * are checked against. Float64 accumulation, one vector at a time; clear, not fast.
 *
 *   pre_i = W_enc[:, i] . (x - b_dec) + b_enc[i]      (x alone when !applyBDecToInput)
 *   relu:     f_i = max(pre_i, 0)
 *   jumprelu: f_i = pre_i when pre_i > threshold[i] (and > 0), else 0
 *   topk:     f_i = max(pre_i, 0) when pre_i is among the k largest pre-activations
 *             of the whole SAE, else 0 (ties: the lower index wins)
 *   decode(f) = b_dec + sum_i f_i W_dec[i, :]
 */
import type { Sae } from "./types.ts";

/** Pre-activations [dSae] of one input vector (float64). */
export function preActivations(sae: Sae, x: ArrayLike<number>): Float64Array {
  const { dIn, dSae, wEnc, bEnc, bDec } = sae;
  if (x.length !== dIn) throw new Error(`${sae.source}: input has ${x.length} values, the SAE reads d_in = ${dIn}`);
  const pre = new Float64Array(dSae);
  for (let j = 0; j < dSae; j++) pre[j] = bEnc[j];
  for (let i = 0; i < dIn; i++) {
    const xi = sae.applyBDecToInput ? x[i] - bDec[i] : x[i];
    if (xi === 0) continue;
    const row = i * dSae;
    for (let j = 0; j < dSae; j++) pre[j] += wEnc[row + j] * xi;
  }
  return pre;
}

/** Indices of the k largest values (descending; ties: lower index first). */
export function topKIndices(values: ArrayLike<number>, k: number): number[] {
  const idx = Array.from({ length: values.length }, (_, i) => i);
  idx.sort((a, b) => values[b] - values[a] || a - b);
  return idx.slice(0, Math.max(0, Math.min(k, values.length)));
}

/** Feature activations [dSae] of one input vector [dIn]. */
export function encode(sae: Sae, x: ArrayLike<number>): Float32Array {
  const pre = preActivations(sae, x);
  const f = new Float32Array(sae.dSae);
  switch (sae.architecture) {
    case "relu":
      for (let j = 0; j < sae.dSae; j++) f[j] = pre[j] > 0 ? pre[j] : 0;
      break;
    case "jumprelu": {
      const t = sae.threshold;
      if (!t) throw new Error(`${sae.source}: JumpReLU SAE without threshold`);
      for (let j = 0; j < sae.dSae; j++) f[j] = pre[j] > t[j] && pre[j] > 0 ? pre[j] : 0;
      break;
    }
    case "topk": {
      if (!sae.k || sae.k < 1) throw new Error(`${sae.source}: TopK SAE without k`);
      for (const j of topKIndices(pre, sae.k)) f[j] = pre[j] > 0 ? pre[j] : 0;
      break;
    }
    default:
      throw new Error(`${sae.source}: unknown architecture ${String((sae as { architecture: unknown }).architecture)}`);
  }
  return f;
}

/** Decoder output [dIn] of feature activations [dSae]: b_dec + f W_dec. */
export function decode(sae: Sae, f: ArrayLike<number>): Float32Array {
  const { dIn, dSae, wDec, bDec } = sae;
  if (f.length !== dSae) throw new Error(`${sae.source}: ${f.length} feature values, the SAE has d_sae = ${dSae}`);
  const acc = Float64Array.from(bDec);
  for (let j = 0; j < dSae; j++) {
    const a = f[j];
    if (a === 0) continue;
    const row = j * dIn;
    for (let i = 0; i < dIn; i++) acc[i] += a * wDec[row + i];
  }
  return Float32Array.from(acc);
}

/** decode(encode(x)). */
export function reconstruct(sae: Sae, x: ArrayLike<number>): Float32Array {
  return decode(sae, encode(sae, x));
}

/**
 * Fraction of variance explained over a set of vectors (rows of `data`,
 * [n, dIn]): 1 - sum |x - x_hat|^2 / sum |x - mean|^2, mean per dimension over the set.
 */
export function fractionOfVarianceExplained(sae: Sae, data: Float32Array): number {
  const d = sae.dIn;
  const n = data.length / d;
  if (!Number.isInteger(n) || n < 1) throw new Error(`fractionOfVarianceExplained: ${data.length} values is not a positive multiple of d_in = ${d}`);
  const mean = new Float64Array(d);
  for (let r = 0; r < n; r++) for (let i = 0; i < d; i++) mean[i] += data[r * d + i];
  for (let i = 0; i < d; i++) mean[i] /= n;
  let sse = 0;
  let sst = 0;
  for (let r = 0; r < n; r++) {
    const x = data.subarray(r * d, (r + 1) * d);
    const y = reconstruct(sae, x);
    for (let i = 0; i < d; i++) {
      sse += (x[i] - y[i]) ** 2;
      sst += (x[i] - mean[i]) ** 2;
    }
  }
  return sst > 0 ? 1 - sse / sst : sse === 0 ? 1 : 0;
}
