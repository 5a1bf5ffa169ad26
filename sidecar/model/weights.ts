/**
 * The one in-memory form every checkpoint loader produces and both the
 * reference forward pass and the ONNX graph builder consume.
 *
 * Linear weights are stored as in PyTorch / llama2.c: `[out, in]` row-major,
 * so `y[o] = sum_i W[o * in + i] * x[i]`.
 *
 * `W` is Float32Array for weights in memory (the reference forward pass, the
 * tests) or `Weight` (./lazy-tensor.ts) for a checkpoint the streamed build
 * reads tensor by tensor.
 */
import { loadWeight, mapWeight, type Weight } from "./lazy-tensor.ts";

/** How rotary position embedding pairs up the dimensions of each head. */
export type RotaryConvention =
  /** llama2.c / Meta: rotate pairs (x[2i], x[2i+1]). */
  | "interleaved"
  /** Hugging Face `rotate_half`: rotate pairs (x[i], x[i + headDim/2]). */
  | "half";

export interface LlamaDims {
  vocabSize: number;
  dModel: number;
  nLayers: number;
  nHeads: number;
  /** Key/value heads; < nHeads means grouped-query attention (nHeads % nKvHeads == 0). */
  nKvHeads: number;
  headDim: number;
  /** Width of the SwiGLU MLP (intermediate_size). */
  hiddenDim: number;
  /** Longest sequence the model was trained for (max_position_embeddings / seq_len). */
  contextLength: number;
  ropeTheta: number;
  rmsNormEps: number;
}

/**
 * The MLP's gate activation: SiLU (Llama, Mistral, Qwen2, Phi-3), GELU with
 * the tanh approximation (Gemma's `gelu_pytorch_tanh`) or exact erf GELU.
 */
export type Activation = "silu" | "gelu_tanh" | "gelu";

/**
 * How the rotary frequencies are derived from rope_theta (transformers'
 * `rope_scaling` / `rope_parameters`); the math lives in ./rope.ts.
 */
export type RopeScaling =
  | { type: "linear"; factor: number }
  | { type: "llama3"; factor: number; lowFreqFactor: number; highFreqFactor: number; originalContext: number }
  /** NTK-aware: theta grows once a row is longer than originalContext. */
  | { type: "dynamic"; factor: number; originalContext: number }
  /** Phi-3 LongRoPE ("su"): per-frequency factors, short up to originalContext, long past it; cos/sin scaled by attentionFactor. */
  | { type: "longrope"; shortFactor: number[]; longFactor: number[]; originalContext: number; attentionFactor: number };

export interface LlamaConfig extends LlamaDims {
  rotary: RotaryConvention;
  /** The output head is the token embedding matrix. */
  tiedEmbeddings: boolean;
  /** q/k/v projections carry biases (Qwen2, Llama with attention_bias). */
  qkvBias: boolean;
  // ---- family options: absent means plain Llama ----
  /** RoPE scaling; absent: plain rope_theta frequencies. */
  rope?: RopeScaling;
  /** MLP gate activation; absent: silu. */
  activation?: Activation;
  /** The embedding output is multiplied by this (Gemma: sqrt(dModel) in float32). */
  embedScale?: number;
  /**
   * Gemma 2's sandwich norms: the attention output and the MLP output are
   * each normalised (LayerWeights.postAttnNorm / postFfnNorm) before their residual add.
   */
  sandwichNorms?: boolean;
  /** Attention score scale; absent: 1/sqrt(headDim) (Gemma 2: query_pre_attn_scalar^-0.5). */
  attnScale?: number;
  /** scores -> cap * tanh(scores / cap) before masking (Gemma 2). */
  attnSoftcap?: number;
  /** logits -> cap * tanh(logits / cap) (Gemma 2). */
  finalSoftcap?: number;
  /**
   * Per layer, the sliding attention window (a query sees the last W
   * positions, itself included) or null for full attention; absent: all full.
   */
  slidingWindows?: (number | null)[];
}

export interface LayerWeights<W extends Weight = Float32Array> {
  /** RMSNorm gain before attention, [dModel]. */
  attnNorm: W;
  /** [nHeads*headDim, dModel] */
  wq: W;
  /** [nKvHeads*headDim, dModel] */
  wk: W;
  /** [nKvHeads*headDim, dModel] */
  wv: W;
  /** [dModel, nHeads*headDim] */
  wo: W;
  /** Biases, present iff config.qkvBias. */
  bq?: W;
  bk?: W;
  bv?: W;
  /** RMSNorm gain before the MLP, [dModel]. */
  ffnNorm: W;
  /** Sandwich norms (config.sandwichNorms): RMSNorm gains after attention and after the MLP, [dModel]. */
  postAttnNorm?: W;
  postFfnNorm?: W;
  /** gate_proj, [hiddenDim, dModel] */
  w1: W;
  /** down_proj, [dModel, hiddenDim] */
  w2: W;
  /** up_proj, [hiddenDim, dModel] */
  w3: W;
}

export interface LlamaWeights<W extends Weight = Float32Array> {
  config: LlamaConfig;
  /** [vocabSize, dModel] */
  tokenEmbedding: W;
  layers: LayerWeights<W>[];
  /** Final RMSNorm gain, [dModel]. */
  finalNorm: W;
  /** [vocabSize, dModel]; the same array as tokenEmbedding when tied. */
  lmHead: W;
}

/** Throws when an array's length does not match the config (catches loader bugs early). */
export function validateWeights(w: LlamaWeights<Weight>, where: string): void {
  const c = w.config;
  const q = c.nHeads * c.headDim;
  const kv = c.nKvHeads * c.headDim;
  const check = (name: string, a: Weight | undefined, n: number) => {
    if (!a) throw new Error(`${where}: missing ${name}`);
    if (a.length !== n) throw new Error(`${where}: ${name} has ${a.length} values, expected ${n}`);
  };
  if (c.nHeads % c.nKvHeads !== 0) throw new Error(`${where}: nHeads ${c.nHeads} is not a multiple of nKvHeads ${c.nKvHeads}`);
  if (c.headDim % 2 !== 0) throw new Error(`${where}: headDim ${c.headDim} must be even for rotary embeddings`);
  if (c.slidingWindows && c.slidingWindows.length !== c.nLayers) throw new Error(`${where}: ${c.slidingWindows.length} sliding windows for ${c.nLayers} layers`);
  if (c.rope?.type === "longrope") {
    for (const f of [c.rope.shortFactor, c.rope.longFactor]) {
      if (f.length !== c.headDim / 2) throw new Error(`${where}: longrope factors have ${f.length} values, expected headDim/2 = ${c.headDim / 2}`);
    }
  }
  check("tokenEmbedding", w.tokenEmbedding, c.vocabSize * c.dModel);
  check("lmHead", w.lmHead, c.vocabSize * c.dModel);
  check("finalNorm", w.finalNorm, c.dModel);
  if (w.layers.length !== c.nLayers) throw new Error(`${where}: ${w.layers.length} layers, expected ${c.nLayers}`);
  w.layers.forEach((l, i) => {
    const p = `layers[${i}].`;
    check(p + "attnNorm", l.attnNorm, c.dModel);
    check(p + "wq", l.wq, q * c.dModel);
    check(p + "wk", l.wk, kv * c.dModel);
    check(p + "wv", l.wv, kv * c.dModel);
    check(p + "wo", l.wo, c.dModel * q);
    if (c.qkvBias) {
      check(p + "bq", l.bq, q);
      check(p + "bk", l.bk, kv);
      check(p + "bv", l.bv, kv);
    }
    check(p + "ffnNorm", l.ffnNorm, c.dModel);
    if (c.sandwichNorms) {
      check(p + "postAttnNorm", l.postAttnNorm, c.dModel);
      check(p + "postFfnNorm", l.postFfnNorm, c.dModel);
    }
    check(p + "w1", l.w1, c.hiddenDim * c.dModel);
    check(p + "w2", l.w2, c.dModel * c.hiddenDim);
    check(p + "w3", l.w3, c.hiddenDim * c.dModel);
  });
}

/**
 * Every weight array of `w` through `f`, which also gets its name
 * ("tokenEmbedding", "layers.0.wq", ...); a tied output head stays the same
 * array as the embedding's result.
 */
export function mapWeights<A extends Weight, B extends Weight>(w: LlamaWeights<A>, f: (a: A, name: string) => B): LlamaWeights<B> {
  const tokenEmbedding = f(w.tokenEmbedding, "tokenEmbedding");
  return {
    config: w.config,
    tokenEmbedding,
    layers: w.layers.map((l, i) => Object.fromEntries(Object.entries(l).map(([k, a]) => [k, a === undefined ? undefined : f(a as A, `layers.${i}.${k}`)])) as unknown as LayerWeights<B>),
    finalNorm: f(w.finalNorm, "finalNorm"),
    lmHead: w.lmHead === w.tokenEmbedding ? tokenEmbedding : f(w.lmHead, "lmHead"),
  };
}

/** Reads every lazy weight into memory (a tied output head stays the embedding array). */
export function materializeWeights(w: LlamaWeights<Weight>): LlamaWeights {
  return mapWeights(w, loadWeight);
}

/**
 * Reorders q/k rows (and biases) of an interleaved-rotary model so that the
 * half-rotary formula gives the same attention scores: within each head, new
 * row `r*(hd/2) + i` = old row `2*i + r` (r in {0,1}). This is the permutation
 * Hugging Face's Meta-to-HF Llama conversion applies. Attention scores are dot
 * products of q and k, so permuting both identically leaves them unchanged.
 * Returns the weights unchanged when they already use the half convention.
 */
export function toHalfRotary<W extends Weight>(w: LlamaWeights<W>): LlamaWeights<W> {
  if (w.config.rotary === "half") return w;
  const { headDim: hd, dModel } = w.config;
  const permute = (a: Float32Array, rowLen: number): Float32Array => {
    const rows = a.length / rowLen;
    const out = new Float32Array(a.length);
    for (let row = 0; row < rows; row++) {
      const head = Math.floor(row / hd);
      const j = row % hd; // position inside the head in the new (half) layout
      const r = j < hd / 2 ? 0 : 1;
      const i = j - r * (hd / 2);
      const src = head * hd + 2 * i + r;
      out.set(a.subarray(src * rowLen, (src + 1) * rowLen), row * rowLen);
    }
    return out;
  };
  const permuteRows = <T extends Weight>(a: T, rowLen: number) => mapWeight(a, a.length, (x) => permute(x, rowLen)) as T;
  return {
    ...w,
    config: { ...w.config, rotary: "half" },
    layers: w.layers.map((l) => ({
      ...l,
      wq: permuteRows(l.wq, dModel),
      wk: permuteRows(l.wk, dModel),
      bq: l.bq && permuteRows(l.bq, 1),
      bk: l.bk && permuteRows(l.bk, 1),
    })),
  };
}
