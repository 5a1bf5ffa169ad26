/**
 * Builds a Llama-family decoder as an ONNX graph (opset 17) from LlamaWeights.
 *
 * Inputs (Optimum / transformers.js names and layouts):
 *   input_ids      [B, S]      int64
 *   attention_mask [B, P+S]    int64   1 = real token, 0 = padding (past and new)
 *   position_ids   [B, S]      int64   rotary positions (left-padded rows start later)
 *   past_key_values.N.key / .value  [B, nKvHeads, P, headDim] float32 (P may be 0)
 * Outputs:
 *   logits         [B, S, V]   float32
 *   present.N.key / .value     [B, nKvHeads, P+S, headDim]  (keys already rotated)
 *   (optionally) /model/layers.N/resid_post [B, S, dModel] when residualOutputs is set
 *
 * The graph always uses the "half" rotary convention: interleaved-rotary
 * weights are converted first by permuting q/k rows (see toHalfRotary), which
 * leaves every attention score and therefore the logits unchanged.
 *
 * Masking: new token i (0 <= i < S) may attend to key j (0 <= j < P+S) iff
 * attention_mask[b, j] == 1 and j <= P + i (causal among the new tokens), and,
 * in a layer with a sliding window W, P + i - j < W. Columns are positions:
 * the engine's cache keeps each row's positions contiguous (left padding
 * only), so a column distance is a position distance.
 *
 * Fused attention (opts.attention "gqa"): each block's attention is one
 * com.microsoft GroupQueryAttention node (onnxruntime's CPU kernel) instead of
 * Concat/Transpose/MatMul/Softmax, and the interface changes (names.ts):
 *   input_ids, position_ids  as above
 *   seqlens_k [B] int32, total_sequence_length [] int32   (no attention_mask)
 *   past_key_values.N.key / .value  [B, nKvHeads, capacity, headDim]: row b's
 *       positions 0 .. seqlens_k[b] - S left-aligned, the rest unused
 *   logits as above
 *   new_key_values.N.key / .value   [B, S, nKvHeads*headDim]: this step's
 *       keys (rotated) and values only, which the engine writes into its cache
 * GroupQueryAttention writes its own present (past + new) into a buffer of its
 * own; that is no graph output, because onnxruntime-node copies every output
 * it returns, so a cache-sized output costs a copy of the cache per step.
 * Rotary stays in our own ops (do_rotary 0), so every rope type works; the
 * kernel checks the rest: head size a multiple of 8, several new tokens on a
 * non-empty cache only at batch 1 (the engine's prefill chunks are batch 1).
 * Soft-capping, the attention scale and sliding windows map to its softcap,
 * scale and local_window_size (W keys: query position - key position < W).
 *
 * Family options (LlamaConfig) follow sidecar/model/reference.ts, which
 * states the whole forward pass: rotary scaling (./rope.ts), embedding
 * scale, sandwich norms, GELU, attention scale and soft-capping, final
 * soft-capping, sliding windows.
 *
 * Weight precision (./linear.ts): linear layers are stored fp32, fp16, int8
 * or int4; norms, rotary tables and everything between the linear layers
 * (the residual stream, the KV cache, the logits) stay float32.
 */
import type { Weight } from "../lazy-tensor.ts";
import type { LinearName } from "../quantize.ts";
import { isStaticRope, ropeFrequencies } from "../rope.ts";
import { toHalfRotary, type LlamaConfig, type LlamaWeights } from "../weights.ts";
import { derive, embedding, linear as linearAt, MS_DOMAIN, outputHead, type PrecisionOptions } from "./linear.ts";
import { DataType, GraphBuilder, type AttrValue } from "./onnx-builder.ts";
import * as N from "./names.ts";

/** How each block's attention is built: plain ONNX ops (default) or onnxruntime's fused GroupQueryAttention. */
export const ATTENTION_KINDS = ["plain", "gqa"] as const;
export type AttentionKind = (typeof ATTENTION_KINDS)[number];

export interface BuildGraphOptions extends PrecisionOptions {
  /** Also expose every block's residual stream as a graph output (for activation collection). */
  residualOutputs?: boolean;
  /** Attention: "plain" (default) or "gqa" (com.microsoft GroupQueryAttention; see the header). */
  attention?: AttentionKind;
}

/** TensorProto.INT32, the type of GroupQueryAttention's length inputs (onnx-builder.ts names only the types it stores). */
const INT32 = 6;

/** Why a model cannot be built with fused attention, or null when it can. */
export function gqaUnsupported(c: Pick<LlamaConfig, "headDim" | "nHeads" | "nKvHeads">): string | null {
  if (c.headDim % 8 !== 0) return `onnxruntime's GroupQueryAttention needs a head size that is a multiple of 8; this model's is ${c.headDim}`;
  if (c.nHeads % c.nKvHeads !== 0) return `GroupQueryAttention needs the query heads (${c.nHeads}) to be a multiple of the kv heads (${c.nKvHeads})`;
  return null;
}

/** Large negative added to masked attention scores (finite, so fully masked rows stay NaN-free). */
const MASK_VALUE = -1e9;

export function buildLlamaGraph(weights: LlamaWeights<Weight>, opts: BuildGraphOptions = {}): GraphBuilder {
  const w = toHalfRotary(weights);
  const c = w.config;
  const { dModel: D, headDim: hd, nHeads: H, nKvHeads: Hkv, hiddenDim: F, vocabSize: V } = c;
  const G = H / Hkv; // query heads per kv head
  const fused = opts.attention === "gqa";
  if (fused) {
    const why = gqaUnsupported(c);
    if (why) throw new Error(`--attention gqa: ${why}; build this model with plain attention`);
  }
  const g = new GraphBuilder();

  // ---- inputs / outputs ----
  g.input(N.INPUT_IDS, DataType.INT64, ["batch_size", "sequence_length"]);
  if (fused) {
    g.input(N.SEQLENS_K, INT32, ["batch_size"]);
    g.input(N.TOTAL_SEQUENCE_LENGTH, INT32, []);
  } else {
    g.input(N.ATTENTION_MASK, DataType.INT64, ["batch_size", "total_sequence_length"]);
  }
  g.input(N.POSITION_IDS, DataType.INT64, ["batch_size", "sequence_length"]);
  for (let l = 0; l < c.nLayers; l++) {
    const past = fused ? "past_capacity" : "past_sequence_length";
    g.input(N.pastKey(l), DataType.FLOAT, ["batch_size", Hkv, past, hd]);
    g.input(N.pastValue(l), DataType.FLOAT, ["batch_size", Hkv, past, hd]);
  }
  g.output(N.LOGITS, DataType.FLOAT, ["batch_size", "sequence_length", V]);
  for (let l = 0; l < c.nLayers; l++) {
    if (fused) {
      g.output(N.newKey(l), DataType.FLOAT, ["batch_size", "sequence_length", Hkv * hd]);
      g.output(N.newValue(l), DataType.FLOAT, ["batch_size", "sequence_length", Hkv * hd]);
    } else {
      g.output(N.presentKey(l), DataType.FLOAT, ["batch_size", Hkv, "total_sequence_length", hd]);
      g.output(N.presentValue(l), DataType.FLOAT, ["batch_size", Hkv, "total_sequence_length", hd]);
    }
  }
  if (opts.residualOutputs) {
    for (let l = 0; l < c.nLayers; l++) g.output(N.residPost(l), DataType.FLOAT, ["batch_size", "sequence_length", D]);
  }

  // ---- shared constants ----
  const axis1 = fused ? "" : g.i64("/const/axes_1", [1]);
  const axis2 = g.i64("/const/axes_2", [2]);
  const axisLast = g.i64("/const/axes_-1", [-1]);
  const axes123 = fused ? "" : g.i64("/const/axes_1_2_3", [1, 2, 3]);
  const idx1 = fused ? "" : g.i64("/const/index_1", [1], []);
  const zeroI = fused ? "" : g.i64("/const/zero_i64", [0], []);
  const oneI = fused ? "" : g.i64("/const/one_i64", [1], []);
  const two = g.scalar("/const/two", 2);
  const eps = g.scalar("/const/rms_eps", c.rmsNormEps);
  const scaleValue = c.attnScale ?? 1 / Math.sqrt(hd);
  const attnScale = fused ? "" : g.scalar("/const/attn_scale", scaleValue);
  const maskZero = fused ? "" : g.scalar("/const/mask_zero", 0);
  const maskNeg = fused ? "" : g.scalar("/const/mask_neg", MASK_VALUE);
  const halfStart = g.i64("/const/half_start", [0]);
  const halfMid = g.i64("/const/half_mid", [hd / 2]);
  const halfEnd = g.i64("/const/half_end", [hd]);
  const axis3 = g.i64("/const/axes_3", [3]);

  // ---- attention mask bias [B, 1, 1, S, T], computed once (plain attention; GroupQueryAttention masks by itself) ----
  const maskBiasFor = fused ? () => "" : maskBiases();
  function maskBiases(): (layer: number) => string {
    // S = new tokens, T = P + S = all keys; query i sits at absolute index P + i.
    const S = g.op("Gather", [g.op("Shape", [N.INPUT_IDS], "/mask/ids_shape"), idx1], "/mask/S", { axis: 0 });
    const T = g.op("Gather", [g.op("Shape", [N.ATTENTION_MASK], "/mask/mask_shape"), idx1], "/mask/T", { axis: 0 });
    const P = g.op("Sub", [T, S], "/mask/P");
    const keyIdx = g.op("Range", [zeroI, T, oneI], "/mask/key_idx"); // [T]
    const queryIdx = g.op("Add", [g.op("Range", [zeroI, S, oneI], "/mask/new_idx"), P], "/mask/query_idx"); // [S]
    const queryCol = g.op("Unsqueeze", [queryIdx, axis1], "/mask/query_col"); // [S, 1]
    const causal = g.op("LessOrEqual", [keyIdx, queryCol], "/mask/causal"); // [S, T]
    const notPad = g.op("Unsqueeze", [g.op("Cast", [N.ATTENTION_MASK], "/mask/mask_bool", { to: DataType.BOOL }), axes123], "/mask/not_pad"); // [B,1,1,1,T]
    const allowed = g.op("And", [causal, notPad], "/mask/allowed"); // [B,1,1,S,T]
    const fullBias = g.op("Where", [allowed, maskZero, maskNeg], "/mask/bias");
    // One more bias per distinct sliding window W: also hide keys W or more positions back.
    let distance: string | undefined; // [S, T]: query position - key position
    const windowBias = new Map<number, string>();
    const maskBiasFor = (layer: number): string => {
      const W = c.slidingWindows?.[layer] ?? null;
      if (W === null) return fullBias;
      let bias = windowBias.get(W);
      if (!bias) {
        distance ??= g.op("Sub", [queryCol, keyIdx], "/mask/distance");
        const near = g.op("Less", [distance, g.i64(`/mask/window_${W}`, [W], [])], `/mask/within_${W}`);
        bias = g.op("Where", [g.op("And", [allowed, near], `/mask/allowed_${W}`), maskZero, maskNeg], `/mask/bias_${W}`);
        windowBias.set(W, bias);
      }
      return bias;
    };
    return maskBiasFor;
  }

  // ---- rotary tables from position_ids: cos/sin [B, 1, S, hd] (fused attention: [B, S, 1, hd]) ----
  // Pair j of the half convention is (x[j], x[j + hd/2]) with frequency invFreq[j] (../rope.ts).
  const pos = g.op("Unsqueeze", [g.op("Cast", [N.POSITION_IDS], "/rotary/pos_f32", { to: DataType.FLOAT }), axisLast], "/rotary/pos"); // [B,S,1]
  const { invFreq, scale: ropeScale } = rotaryFrequencies(g, c);
  const freqs = g.op("Mul", [pos, invFreq], "/rotary/freqs"); // [B,S,hd/2]
  const emb = g.op("Concat", [freqs, freqs], "/rotary/emb", { axis: -1 }); // [B,S,hd]
  const scaled = (t: string, name: string) => (ropeScale === 1 ? t : g.op("Mul", [t, g.scalar(`/rotary/${name}_scale`, ropeScale)], `/rotary/${name}_scaled`));
  // The heads axis: fused attention rotates q and k as [B, S, heads, hd], the layout GroupQueryAttention reads.
  const headsAxis = fused ? axis2 : axis1;
  const cos = g.op("Unsqueeze", [scaled(g.op("Cos", [emb], "/rotary/cos_bsd"), "cos"), headsAxis], "/rotary/cos");
  const sin = g.op("Unsqueeze", [scaled(g.op("Sin", [emb], "/rotary/sin_bsd"), "sin"), headsAxis], "/rotary/sin");

  /** x * cos + rotate_half(x) * sin, where rotate_half(x) = concat(-x2, x1). x: [B, heads, S, hd] ([B, S, heads, hd] when fused) */
  const applyRotary = (x: string, p: string): string => {
    const x1 = g.op("Slice", [x, halfStart, halfMid, axis3], `${p}/x1`);
    const x2 = g.op("Slice", [x, halfMid, halfEnd, axis3], `${p}/x2`);
    const rot = g.op("Concat", [g.op("Neg", [x2], `${p}/neg_x2`), x1], `${p}/rotate_half`, { axis: -1 });
    return g.op("Add", [g.op("Mul", [x, cos], `${p}/x_cos`), g.op("Mul", [rot, sin], `${p}/rot_sin`)], `${p}/out`);
  };

  /** x / sqrt(mean(x^2) + eps) * gain, in the pattern onnxruntime fuses to SimplifiedLayerNormalization. */
  const rmsNorm = (x: string, gain: Weight, p: string): string => {
    const ms = g.op("ReduceMean", [g.op("Pow", [x, two], `${p}/Pow`)], `${p}/ReduceMean`, { axes: [-1], keepdims: 1 });
    const rms = g.op("Sqrt", [g.op("Add", [ms, eps], `${p}/Add`)], `${p}/Sqrt`);
    const normed = g.op("Div", [x, rms], `${p}/Div`);
    return g.op("Mul", [normed, g.f32(`${p}.weight`, [D], derive(gain))], `${p}/Mul`);
  };

  /** x @ W^T (+ b), W given [out, in], at the build's weight precision. */
  const linear = (x: string, W: Weight, out: number, inp: number, p: string, layer: LinearName, b?: Weight): string => linearAt(g, x, W, out, inp, p, layer, opts, b);

  // ---- embedding ----
  const embed = embedding(g, N.INPUT_IDS, w.tokenEmbedding, V, D, opts);
  let x = embed.x; // [B,S,D]
  if (c.embedScale !== undefined) x = g.op("Mul", [x, g.scalar("/model/embed_scale", c.embedScale)], "/model/embed_tokens/scaled");
  /** cap * tanh(t / cap), as transformers soft-caps (cap: a scalar initializer's name). */
  const softcap = (t: string, cap: string, p: string, outputs?: string[]) =>
    g.op("Mul", [g.op("Tanh", [g.op("Div", [t, cap], `${p}/Div`)], `${p}/Tanh`), cap], `${p}/Mul`, {}, outputs);
  const attnCap = c.attnSoftcap && !fused ? g.scalar("/const/attn_softcap", c.attnSoftcap) : undefined;

  const headsShape = g.i64("/const/shape_q_heads", [0, 0, H, hd]);
  const kvHeadsShape = g.i64("/const/shape_kv_heads", [0, 0, Hkv, hd]);
  const groupedShape = fused ? "" : g.i64("/const/shape_grouped", [0, Hkv, G, -1, hd]);
  const ungroupedShape = fused ? "" : g.i64("/const/shape_ungrouped", [0, H, -1, hd]);
  const mergedShape = g.i64("/const/shape_merged", [0, 0, H * hd]);
  const kvMergedShape = fused ? g.i64("/const/shape_kv_merged", [0, 0, Hkv * hd]) : "";

  /**
   * One block's attention as a GroupQueryAttention node: q, k, v [B, S, heads*hd]
   * in, context [B, S, H*hd] out; the rotated keys and the values are also the
   * graph's new_key_values outputs. Its present outputs stay inside the graph.
   */
  const fusedAttention = (q: string, k: string, v: string, l: number, a: string): string => {
    const rotated = (t: string, shape: string, merged: string, name: string, outputs?: string[]) =>
      g.op("Reshape", [applyRotary(g.op("Reshape", [t, shape], `${a}/${name}_bshd`), `${a}/${name}_rotary`), merged], `${a}/${name}_rotated`, {}, outputs);
    const qr = rotated(q, headsShape, mergedShape, "q");
    const kr = rotated(k, kvHeadsShape, kvMergedShape, "k", [N.newKey(l)]);
    const vn = g.op("Identity", [v], `${a}/v_new`, {}, [N.newValue(l)]);
    const W = c.slidingWindows?.[l] ?? null;
    const attrs: Record<string, AttrValue> = { num_heads: H, kv_num_heads: Hkv, scale: { float: scaleValue } };
    if (c.attnSoftcap) attrs.softcap = { float: c.attnSoftcap };
    if (W !== null) attrs.local_window_size = W;
    const inputs = [qr, kr, vn, N.pastKey(l), N.pastValue(l), N.SEQLENS_K, N.TOTAL_SEQUENCE_LENGTH];
    const outputs = [`${a}/gqa/output`, `${a}/gqa/present_key`, `${a}/gqa/present_value`];
    return g.op("GroupQueryAttention", inputs, `${a}/gqa`, attrs, outputs, MS_DOMAIN);
  };

  /** One block's attention in plain ops: q, k, v [B, S, heads*hd] in, context [B, S, H*hd] out; present.N.* = past + new. */
  const plainAttention = (q: string, k: string, v: string, l: number, a: string): string => {
    const toHeads = (t: string, shape: string, name: string) =>
      g.op("Transpose", [g.op("Reshape", [t, shape], `${a}/${name}_reshape`)], `${a}/${name}_heads`, { perm: [0, 2, 1, 3] });
    const qr = applyRotary(toHeads(q, headsShape, "q"), `${a}/q_rotary`);
    const kr = applyRotary(toHeads(k, kvHeadsShape, "k"), `${a}/k_rotary`);
    const vh = toHeads(v, kvHeadsShape, "v");
    // KV cache: append the new keys/values after the past ones (time axis 2)
    const keys = g.op("Concat", [N.pastKey(l), kr], `${a}/present_key`, { axis: 2 }, [N.presentKey(l)]);
    const values = g.op("Concat", [N.pastValue(l), vh], `${a}/present_value`, { axis: 2 }, [N.presentValue(l)]);
    // Grouped-query attention without copying k/v: view q as [B, Hkv, G, S, hd]
    // and broadcast k/v over the group axis: [B, Hkv, 1, T, hd].
    const qg = g.op("Reshape", [qr, groupedShape], `${a}/q_grouped`);
    const kT = g.op("Unsqueeze", [g.op("Transpose", [keys], `${a}/k_t`, { perm: [0, 1, 3, 2] }), axis2], `${a}/k_t_grouped`); // [B,Hkv,1,hd,T]
    const raw = g.op("Mul", [g.op("MatMul", [qg, kT], `${a}/qk`), attnScale], `${a}/scores`); // [B,Hkv,G,S,T]
    const scores = attnCap ? softcap(raw, attnCap, `${a}/softcap`) : raw;
    const probs = g.op("Softmax", [g.op("Add", [scores, maskBiasFor(l)], `${a}/masked_scores`)], `${a}/probs`, { axis: -1 });
    const ctx = g.op("MatMul", [probs, g.op("Unsqueeze", [values, axis2], `${a}/v_grouped`)], `${a}/context`); // [B,Hkv,G,S,hd]
    return g.op("Reshape", [
      g.op("Transpose", [g.op("Reshape", [ctx, ungroupedShape], `${a}/context_heads`)], `${a}/context_bshd`, { perm: [0, 2, 1, 3] }),
      mergedShape,
    ], `${a}/context_merged`); // [B,S,H*hd]
  };

  w.layers.forEach((layer, l) => {
    const p = `/model/layers.${l}`;
    const a = `${p}/self_attn`;
    // attention
    const h = rmsNorm(x, layer.attnNorm, `${p}/input_layernorm`);
    const q = linear(h, layer.wq, H * hd, D, `${a}/q_proj`, "wq", layer.bq);
    const k = linear(h, layer.wk, Hkv * hd, D, `${a}/k_proj`, "wk", layer.bk);
    const v = linear(h, layer.wv, Hkv * hd, D, `${a}/v_proj`, "wv", layer.bv);
    const merged = fused ? fusedAttention(q, k, v, l, a) : plainAttention(q, k, v, l, a);
    let attnOut = linear(merged, layer.wo, D, H * hd, `${a}/o_proj`, "wo");
    if (layer.postAttnNorm) attnOut = rmsNorm(attnOut, layer.postAttnNorm, `${p}/post_attention_norm`);
    x = g.op("Add", [x, attnOut], `${p}/resid_mid`);
    // gated MLP: down(act(gate(h)) * up(h))
    const m = `${p}/mlp`;
    const h2 = rmsNorm(x, layer.ffnNorm, `${p}/${c.sandwichNorms ? "pre_feedforward_layernorm" : "post_attention_layernorm"}`);
    const gate = linear(h2, layer.w1, F, D, `${m}/gate_proj`, "w1");
    const up = linear(h2, layer.w3, F, D, `${m}/up_proj`, "w3");
    let down = linear(g.op("Mul", [activation(g, gate, c.activation ?? "silu", `${m}/act`), up], `${m}/Mul`), layer.w2, D, F, `${m}/down_proj`, "w2");
    if (layer.postFfnNorm) down = rmsNorm(down, layer.postFfnNorm, `${p}/post_feedforward_layernorm`);
    x = g.op("Add", [x, down], N.residPost(l));
  });

  // ---- final norm and output head ----
  const hf = rmsNorm(x, w.finalNorm, "/model/norm");
  const raw = outputHead(g, hf, w.lmHead, c.tiedEmbeddings ? embed.table : null, V, D, opts);
  if (c.finalSoftcap) softcap(raw, g.scalar("/lm_head/softcap/cap", c.finalSoftcap), "/lm_head/softcap", [N.LOGITS]);
  else g.op("Identity", [raw], "/lm_head/logits", {}, [N.LOGITS]);
  return g;
}

/** gelu's tanh approximation constant sqrt(2/pi). */
const GELU_C = Math.sqrt(2 / Math.PI);

/** The MLP gate activation as graph nodes. */
function activation(g: GraphBuilder, x: string, act: NonNullable<LlamaConfig["activation"]>, p: string): string {
  if (act === "silu") return g.op("Mul", [x, g.op("Sigmoid", [x], `${p}/Sigmoid`)], `${p}/Mul`);
  const half = g.op("Mul", [x, g.scalar(`${p}/half`, 0.5)], `${p}/half_x`);
  let inner: string;
  if (act === "gelu") {
    inner = g.op("Erf", [g.op("Mul", [x, g.scalar(`${p}/inv_sqrt2`, Math.SQRT1_2)], `${p}/x_sqrt1_2`)], `${p}/Erf`);
  } else {
    // tanh(sqrt(2/pi) * (x + 0.044715 x^3))
    const cube = g.op("Mul", [g.op("Mul", [x, x], `${p}/x2`), x], `${p}/x3`);
    const poly = g.op("Add", [x, g.op("Mul", [cube, g.scalar(`${p}/coef`, 0.044715)], `${p}/cubic`)], `${p}/poly`);
    inner = g.op("Tanh", [g.op("Mul", [poly, g.scalar(`${p}/sqrt_2_pi`, GELU_C)], `${p}/scaled`)], `${p}/Tanh`);
  }
  return g.op("Mul", [half, g.op("Add", [inner, g.scalar(`${p}/one`, 1)], `${p}/one_plus`)], `${p}/Mul`);
}

/**
 * The rotary inverse frequencies as a graph tensor broadcastable against
 * positions [B, S, 1]: an initializer [hd/2] when static, else [B, 1, hd/2]
 * computed per row from its longest position (../rope.ts).
 */
function rotaryFrequencies(g: GraphBuilder, c: LlamaConfig): { invFreq: string; scale: number } {
  const r = c.rope;
  if (isStaticRope(c) || !r) {
    const { invFreq, scale } = ropeFrequencies(c, 0);
    return { invFreq: g.f32("/rotary/inv_freq", [invFreq.length], invFreq), scale };
  }
  const half = c.headDim / 2;
  // n = max(position_ids) + 1 per row, [B, 1, 1]
  const maxPos = g.op("ReduceMax", [N.POSITION_IDS], "/rotary/max_pos", { axes: [1], keepdims: 1 }); // [B,1]
  const seqLen = g.op("Add", [maxPos, g.i64("/rotary/one", [1], [])], "/rotary/seq_len");
  const n = g.op("Unsqueeze", [seqLen, g.i64("/rotary/axes_2", [2])], "/rotary/seq_len_b11");
  if (r.type === "longrope") {
    const long = g.op("Greater", [n, g.i64("/rotary/original_context", [r.originalContext], [])], "/rotary/is_long");
    // the two tables: a sequence that fits the original context, and one past it
    const short = ropeFrequencies(c, r.originalContext).invFreq;
    const longF = ropeFrequencies(c, r.originalContext + 1).invFreq;
    const invFreq = g.op("Where", [long, g.f32("/rotary/inv_freq_long", [half], longF), g.f32("/rotary/inv_freq_short", [half], short)], "/rotary/inv_freq");
    return { invFreq, scale: r.attentionFactor };
  }
  if (r.type !== "dynamic") throw new Error(`rope type ${(r as { type: string }).type}: no graph form`);
  // theta' = theta * (factor * max(n, orig) / orig - (factor - 1)) ^ (d / (d - 2)); invFreq = theta'^(-2j/d)
  const nf = g.op("Max", [g.op("Cast", [n], "/rotary/seq_len_f32", { to: DataType.FLOAT }), g.scalar("/rotary/original_context", r.originalContext)], "/rotary/seq_len_eff");
  const ratio = g.op("Sub", [g.op("Mul", [nf, g.scalar("/rotary/factor_over_context", r.factor / r.originalContext)], "/rotary/scaled_len"), g.scalar("/rotary/factor_minus_1", r.factor - 1)], "/rotary/ratio");
  const theta = g.op("Mul", [g.op("Pow", [ratio, g.scalar("/rotary/ntk_power", c.headDim / (c.headDim - 2))], "/rotary/ntk"), g.scalar("/rotary/theta", c.ropeTheta)], "/rotary/dynamic_theta");
  const exponents = Float32Array.from({ length: half }, (_, j) => -(2 * j) / c.headDim);
  const invFreq = g.op("Exp", [g.op("Mul", [g.op("Log", [theta], "/rotary/log_theta"), g.f32("/rotary/exponents", [half], exponents)], "/rotary/log_inv_freq")], "/rotary/inv_freq");
  return { invFreq, scale: 1 };
}
