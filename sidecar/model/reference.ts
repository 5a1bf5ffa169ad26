/**
 * A plain TypeScript decoder forward pass in the style of llama2.c's run.c,
 * one token at a time, with a KV cache. It exists to check the ONNX graph and
 * to hook the residual stream in tests; it is not fast. Family options
 * (LlamaConfig) are marked [Gemma], [Gemma 2], [Mistral/Phi-3/Gemma 2].
 *
 * x = Embed[token] (* embedScale [Gemma])
 * Per block (x is the residual stream, one vector of dModel):
 *   h  = RMSNorm(x) * attnNorm
 *   q, k, v = Wq h (+bq), Wk h (+bk), Wv h (+bv)       per head: headDim values
 *   q, k   = rotate(q, pos), rotate(k, pos)            rotary embedding (./rope.ts)
 *   cache k, v at pos
 *   for each query head hq (kv head hk = hq / (nHeads / nKvHeads), grouped-query):
 *     score[t] = q_hq . k_hk[t] * attnScale            for t = 0..pos (causal),
 *                                                     t > pos - W only [sliding window]
 *     score    = cap * tanh(score / cap)              [Gemma 2 soft-capping]
 *     out_hq   = sum_t softmax(score)[t] * v_hk[t]
 *   a  = Wo out;  a = RMSNorm(a) * postAttnNorm      [Gemma 2 sandwich norm]
 *   x += a
 *   h  = RMSNorm(x) * ffnNorm
 *   m  = W2 (act(W1 h) * (W3 h))                      act: silu, or gelu [Gemma]
 *   m  = RMSNorm(m) * postFfnNorm                     [Gemma 2 sandwich norm]
 *   x += m
 * Then logits = LmHead (RMSNorm(x) * finalNorm), cap * tanh(logits / cap) [Gemma 2].
 * (Gemma's (1 + w) norm gains are folded into the weights by the loader.)
 */
import { ropeFrequencies, type RopeFrequencies } from "./rope.ts";
import type { Activation, LlamaWeights } from "./weights.ts";

/** Keys and values of every past position, per layer: [pos][nKvHeads*headDim]. */
export interface KvCache {
  keys: Float32Array[][];
  values: Float32Array[][];
  /** Number of positions already in the cache (= position of the next token). */
  length: number;
}

export function newKvCache(w: LlamaWeights): KvCache {
  return { keys: w.layers.map(() => []), values: w.layers.map(() => []), length: 0 };
}

export interface ForwardOptions {
  /**
   * Called with the residual stream after block `layer` for the token at
   * `pos`; may modify `x` in place (steering hooks use this).
   */
  onResidual?: (layer: number, pos: number, x: Float32Array) => void;
  /** Keep copies of every block's residual output in the result (default false). */
  keepResiduals?: boolean;
}

export interface ForwardResult {
  /** One [vocabSize] array per input token. */
  logits: Float32Array[];
  /** residuals[layer][token] = residual stream after that block (only with keepResiduals). */
  residuals: Float32Array[][];
}

/** out[o] = sum_i W[o, i] * x[i] (+ b[o]); W is [out, in] row-major. */
function matmul(out: Float32Array, x: Float32Array, W: Float32Array, b?: Float32Array): void {
  const n = x.length;
  for (let o = 0; o < out.length; o++) {
    let sum = b ? b[o] : 0;
    const row = o * n;
    for (let i = 0; i < n; i++) sum += W[row + i] * x[i];
    out[o] = sum;
  }
}

/** out = x / sqrt(mean(x^2) + eps) * gain */
function rmsnorm(out: Float32Array, x: Float32Array, gain: Float32Array, eps: number): void {
  let ss = 0;
  for (let i = 0; i < x.length; i++) ss += x[i] * x[i];
  const scale = 1 / Math.sqrt(ss / x.length + eps);
  for (let i = 0; i < x.length; i++) out[i] = x[i] * scale * gain[i];
}

/**
 * Rotary position embedding applied in place to each head of `vec`.
 * Pair j (0 <= j < headDim/2) is rotated by angle pos * invFreq[j]:
 * (a, b) -> (a cos - b sin, a sin + b cos), cos and sin times rope.scale.
 * The pair is (v[2j], v[2j+1]) for "interleaved", (v[j], v[j+hd/2]) for "half".
 */
function rotary(vec: Float32Array, pos: number, rope: RopeFrequencies, w: LlamaWeights): void {
  const { headDim: hd, rotary: convention } = w.config;
  const half = hd / 2;
  for (let head = 0; head < vec.length / hd; head++) {
    const base = head * hd;
    for (let j = 0; j < half; j++) {
      // Angles in float32 like llama2.c (and the graph): pos * freq rounded to f32.
      const angle = Math.fround(pos * rope.invFreq[j]);
      const cos = Math.cos(angle) * rope.scale;
      const sin = Math.sin(angle) * rope.scale;
      const ia = convention === "interleaved" ? base + 2 * j : base + j;
      const ib = convention === "interleaved" ? base + 2 * j + 1 : base + j + half;
      const a = vec[ia];
      const b = vec[ib];
      vec[ia] = a * cos - b * sin;
      vec[ib] = a * sin + b * cos;
    }
  }
}

/** The MLP gate activation. */
function activate(g: number, act: Activation): number {
  if (act === "silu") return g / (1 + Math.exp(-g));
  if (act === "gelu") return 0.5 * g * (1 + erf(g / Math.SQRT2));
  return 0.5 * g * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (g + 0.044715 * g * g * g))); // gelu_tanh
}

/** Error function (Abramowitz-Stegun 7.1.26 is too coarse: series / continued fraction to ~1e-12). */
function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 3) {
    // Maclaurin series: erf(x) = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1))
    let term = ax;
    let sum = ax;
    for (let n = 1; n < 60; n++) {
      term *= (-ax * ax) / n;
      sum += term / (2 * n + 1);
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc by continued fraction for |x| >= 3
  let f = 0;
  for (let n = 60; n >= 1; n--) f = n / 2 / (ax + f);
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / (ax + f);
  return Math.sign(x) * (1 - erfc);
}

const softcap = (v: number, cap: number | undefined) => (cap ? cap * Math.tanh(v / cap) : v);

/**
 * Runs `tokens` through the model at positions cache.length, cache.length+1, ...
 * (a prefill when several, a decode step when one), appending to the cache.
 */
export function referenceForward(w: LlamaWeights, cache: KvCache, tokens: number[], opts: ForwardOptions = {}): ForwardResult {
  const c = w.config;
  const D = c.dModel;
  const hd = c.headDim;
  const qDim = c.nHeads * hd;
  const kvDim = c.nKvHeads * hd;
  const group = c.nHeads / c.nKvHeads; // query heads per kv head
  const x = new Float32Array(D);
  const h = new Float32Array(D);
  const q = new Float32Array(qDim);
  const att = new Float32Array(qDim);
  const proj = new Float32Array(D);
  const gate = new Float32Array(c.hiddenDim);
  const up = new Float32Array(c.hiddenDim);
  const result: ForwardResult = { logits: [], residuals: w.layers.map(() => []) };
  // The frequencies of one forward call depend on its longest position (dynamic / LongRoPE), as in the graph.
  const rope = ropeFrequencies(c, cache.length + tokens.length);
  const attnScale = c.attnScale ?? 1 / Math.sqrt(hd);
  const act = c.activation ?? "silu";

  for (const token of tokens) {
    if (!(token >= 0 && token < c.vocabSize)) throw new Error(`token id ${token} out of range [0, ${c.vocabSize})`);
    const pos = cache.length;
    x.set(w.tokenEmbedding.subarray(token * D, (token + 1) * D));
    if (c.embedScale !== undefined) for (let i = 0; i < D; i++) x[i] = Math.fround(x[i] * c.embedScale);

    w.layers.forEach((layer, l) => {
      // --- attention ---
      rmsnorm(h, x, layer.attnNorm, c.rmsNormEps);
      const k = new Float32Array(kvDim);
      const v = new Float32Array(kvDim);
      matmul(q, h, layer.wq, layer.bq);
      matmul(k, h, layer.wk, layer.bk);
      matmul(v, h, layer.wv, layer.bv);
      rotary(q, pos, rope, w);
      rotary(k, pos, rope, w);
      cache.keys[l][pos] = k;
      cache.values[l][pos] = v;

      // keys first..pos: all of them, or the last W under a sliding window
      const window = c.slidingWindows?.[l] ?? null;
      const first = window === null ? 0 : Math.max(0, pos - window + 1);
      const scores = new Float64Array(pos + 1);
      for (let hq = 0; hq < c.nHeads; hq++) {
        const hk = Math.floor(hq / group);
        // scores against the visible cached positions, then softmax
        let max = -Infinity;
        for (let t = first; t <= pos; t++) {
          const kt = cache.keys[l][t];
          let s = 0;
          for (let i = 0; i < hd; i++) s += q[hq * hd + i] * kt[hk * hd + i];
          scores[t] = softcap(s * attnScale, c.attnSoftcap);
          if (scores[t] > max) max = scores[t];
        }
        let sum = 0;
        for (let t = first; t <= pos; t++) {
          scores[t] = Math.exp(scores[t] - max);
          sum += scores[t];
        }
        // weighted sum of values
        for (let i = 0; i < hd; i++) {
          let acc = 0;
          for (let t = first; t <= pos; t++) acc += (scores[t] / sum) * cache.values[l][t][hk * hd + i];
          att[hq * hd + i] = acc;
        }
      }
      matmul(proj, att, layer.wo);
      if (layer.postAttnNorm) rmsnorm(proj, proj, layer.postAttnNorm, c.rmsNormEps);
      for (let i = 0; i < D; i++) x[i] += proj[i];

      // --- gated MLP: act(gate) * up ---
      rmsnorm(h, x, layer.ffnNorm, c.rmsNormEps);
      matmul(gate, h, layer.w1);
      matmul(up, h, layer.w3);
      for (let i = 0; i < c.hiddenDim; i++) gate[i] = activate(gate[i], act) * up[i];
      matmul(proj, gate, layer.w2);
      if (layer.postFfnNorm) rmsnorm(proj, proj, layer.postFfnNorm, c.rmsNormEps);
      for (let i = 0; i < D; i++) x[i] += proj[i];

      opts.onResidual?.(l, pos, x);
      if (opts.keepResiduals) result.residuals[l].push(Float32Array.from(x));
    });

    rmsnorm(h, x, w.finalNorm, c.rmsNormEps);
    const logits = new Float32Array(c.vocabSize);
    matmul(logits, h, w.lmHead);
    if (c.finalSoftcap) for (let i = 0; i < logits.length; i++) logits[i] = softcap(logits[i], c.finalSoftcap);
    result.logits.push(logits);
    cache.length = pos + 1;
  }
  return result;
}

/** Index of the largest value (first on ties). */
export function argmax(a: Float32Array): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[best]) best = i;
  return best;
}

/** Greedy decoding with the reference: returns the `steps` generated ids. */
export function referenceGreedy(w: LlamaWeights, prompt: number[], steps: number): number[] {
  const cache = newKvCache(w);
  let logits = referenceForward(w, cache, prompt).logits.at(-1)!;
  const out: number[] = [];
  for (let s = 0; s < steps; s++) {
    const next = argmax(logits);
    out.push(next);
    if (s + 1 < steps) logits = referenceForward(w, cache, [next]).logits[0];
  }
  return out;
}
