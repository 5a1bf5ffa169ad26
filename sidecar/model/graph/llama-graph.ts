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
 * attention_mask[b, j] == 1 and j <= P + i (causal among the new tokens).
 */
import { toHalfRotary, type LlamaWeights } from "../weights.ts";
import { DataType, GraphBuilder } from "./onnx-builder.ts";
import * as N from "./names.ts";

export interface BuildGraphOptions {
  /** Also expose every block's residual stream as a graph output (for activation collection). */
  residualOutputs?: boolean;
}

/** Large negative added to masked attention scores (finite, so fully masked rows stay NaN-free). */
const MASK_VALUE = -1e9;

/** [out, in] row-major -> [in, out] row-major, the layout MatMul(x, W) wants. */
function transpose(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = w[r * cols + c];
  return out;
}

export function buildLlamaGraph(weights: LlamaWeights, opts: BuildGraphOptions = {}): GraphBuilder {
  const w = toHalfRotary(weights);
  const c = w.config;
  const { dModel: D, headDim: hd, nHeads: H, nKvHeads: Hkv, hiddenDim: F, vocabSize: V } = c;
  const G = H / Hkv; // query heads per kv head
  const g = new GraphBuilder();

  // ---- inputs / outputs ----
  g.input(N.INPUT_IDS, DataType.INT64, ["batch_size", "sequence_length"]);
  g.input(N.ATTENTION_MASK, DataType.INT64, ["batch_size", "total_sequence_length"]);
  g.input(N.POSITION_IDS, DataType.INT64, ["batch_size", "sequence_length"]);
  for (let l = 0; l < c.nLayers; l++) {
    g.input(N.pastKey(l), DataType.FLOAT, ["batch_size", Hkv, "past_sequence_length", hd]);
    g.input(N.pastValue(l), DataType.FLOAT, ["batch_size", Hkv, "past_sequence_length", hd]);
  }
  g.output(N.LOGITS, DataType.FLOAT, ["batch_size", "sequence_length", V]);
  for (let l = 0; l < c.nLayers; l++) {
    g.output(N.presentKey(l), DataType.FLOAT, ["batch_size", Hkv, "total_sequence_length", hd]);
    g.output(N.presentValue(l), DataType.FLOAT, ["batch_size", Hkv, "total_sequence_length", hd]);
  }
  if (opts.residualOutputs) {
    for (let l = 0; l < c.nLayers; l++) g.output(N.residPost(l), DataType.FLOAT, ["batch_size", "sequence_length", D]);
  }

  // ---- shared constants ----
  const axis1 = g.i64("/const/axes_1", [1]);
  const axis2 = g.i64("/const/axes_2", [2]);
  const axisLast = g.i64("/const/axes_-1", [-1]);
  const axes123 = g.i64("/const/axes_1_2_3", [1, 2, 3]);
  const idx1 = g.i64("/const/index_1", [1], []);
  const zeroI = g.i64("/const/zero_i64", [0], []);
  const oneI = g.i64("/const/one_i64", [1], []);
  const two = g.scalar("/const/two", 2);
  const eps = g.scalar("/const/rms_eps", c.rmsNormEps);
  const attnScale = g.scalar("/const/attn_scale", 1 / Math.sqrt(hd));
  const maskZero = g.scalar("/const/mask_zero", 0);
  const maskNeg = g.scalar("/const/mask_neg", MASK_VALUE);
  const halfStart = g.i64("/const/half_start", [0]);
  const halfMid = g.i64("/const/half_mid", [hd / 2]);
  const halfEnd = g.i64("/const/half_end", [hd]);
  const axis3 = g.i64("/const/axes_3", [3]);

  // ---- attention mask bias [B, 1, 1, S, T], computed once ----
  // S = new tokens, T = P + S = all keys; query i sits at absolute index P + i.
  const S = g.op("Gather", [g.op("Shape", [N.INPUT_IDS], "/mask/ids_shape"), idx1], "/mask/S", { axis: 0 });
  const T = g.op("Gather", [g.op("Shape", [N.ATTENTION_MASK], "/mask/mask_shape"), idx1], "/mask/T", { axis: 0 });
  const P = g.op("Sub", [T, S], "/mask/P");
  const keyIdx = g.op("Range", [zeroI, T, oneI], "/mask/key_idx"); // [T]
  const queryIdx = g.op("Add", [g.op("Range", [zeroI, S, oneI], "/mask/new_idx"), P], "/mask/query_idx"); // [S]
  const causal = g.op("LessOrEqual", [keyIdx, g.op("Unsqueeze", [queryIdx, axis1], "/mask/query_col")], "/mask/causal"); // [S, T]
  const notPad = g.op("Unsqueeze", [g.op("Cast", [N.ATTENTION_MASK], "/mask/mask_bool", { to: DataType.BOOL }), axes123], "/mask/not_pad"); // [B,1,1,1,T]
  const allowed = g.op("And", [causal, notPad], "/mask/allowed"); // [B,1,1,S,T]
  const maskBias = g.op("Where", [allowed, maskZero, maskNeg], "/mask/bias");

  // ---- rotary tables from position_ids: cos/sin [B, 1, S, hd] ----
  // Pair j of the half convention is (x[j], x[j + hd/2]) with frequency theta^(-2j/hd).
  const invFreq = new Float32Array(hd / 2);
  for (let j = 0; j < hd / 2; j++) invFreq[j] = 1 / c.ropeTheta ** ((2 * j) / hd);
  const pos = g.op("Unsqueeze", [g.op("Cast", [N.POSITION_IDS], "/rotary/pos_f32", { to: DataType.FLOAT }), axisLast], "/rotary/pos"); // [B,S,1]
  const freqs = g.op("Mul", [pos, g.f32("/rotary/inv_freq", [hd / 2], invFreq)], "/rotary/freqs"); // [B,S,hd/2]
  const emb = g.op("Concat", [freqs, freqs], "/rotary/emb", { axis: -1 }); // [B,S,hd]
  const cos = g.op("Unsqueeze", [g.op("Cos", [emb], "/rotary/cos_bsd"), axis1], "/rotary/cos");
  const sin = g.op("Unsqueeze", [g.op("Sin", [emb], "/rotary/sin_bsd"), axis1], "/rotary/sin");

  /** x * cos + rotate_half(x) * sin, where rotate_half(x) = concat(-x2, x1). x: [B, heads, S, hd] */
  const applyRotary = (x: string, p: string): string => {
    const x1 = g.op("Slice", [x, halfStart, halfMid, axis3], `${p}/x1`);
    const x2 = g.op("Slice", [x, halfMid, halfEnd, axis3], `${p}/x2`);
    const rot = g.op("Concat", [g.op("Neg", [x2], `${p}/neg_x2`), x1], `${p}/rotate_half`, { axis: -1 });
    return g.op("Add", [g.op("Mul", [x, cos], `${p}/x_cos`), g.op("Mul", [rot, sin], `${p}/rot_sin`)], `${p}/out`);
  };

  /** x / sqrt(mean(x^2) + eps) * gain, in the pattern onnxruntime fuses to SimplifiedLayerNormalization. */
  const rmsNorm = (x: string, gain: Float32Array, p: string): string => {
    const ms = g.op("ReduceMean", [g.op("Pow", [x, two], `${p}/Pow`)], `${p}/ReduceMean`, { axes: [-1], keepdims: 1 });
    const rms = g.op("Sqrt", [g.op("Add", [ms, eps], `${p}/Add`)], `${p}/Sqrt`);
    const normed = g.op("Div", [x, rms], `${p}/Div`);
    return g.op("Mul", [normed, g.f32(`${p}.weight`, [D], gain)], `${p}/Mul`);
  };

  /** x @ W^T (+ b), W given [out, in]. */
  const linear = (x: string, W: Float32Array, out: number, inp: number, p: string, b?: Float32Array): string => {
    const y = g.op("MatMul", [x, g.f32(`${p}.weight`, [inp, out], transpose(W, out, inp))], `${p}/MatMul`);
    return b ? g.op("Add", [y, g.f32(`${p}.bias`, [out], b)], `${p}/Add`) : y;
  };

  // ---- embedding ----
  const embedTokens = g.f32("model.embed_tokens.weight", [V, D], w.tokenEmbedding);
  let x = g.op("Gather", [embedTokens, N.INPUT_IDS], "/model/embed_tokens/Gather", { axis: 0 }); // [B,S,D]

  const headsShape = g.i64("/const/shape_q_heads", [0, 0, H, hd]);
  const kvHeadsShape = g.i64("/const/shape_kv_heads", [0, 0, Hkv, hd]);
  const groupedShape = g.i64("/const/shape_grouped", [0, Hkv, G, -1, hd]);
  const ungroupedShape = g.i64("/const/shape_ungrouped", [0, H, -1, hd]);
  const mergedShape = g.i64("/const/shape_merged", [0, 0, H * hd]);

  w.layers.forEach((layer, l) => {
    const p = `/model/layers.${l}`;
    const a = `${p}/self_attn`;
    // attention
    const h = rmsNorm(x, layer.attnNorm, `${p}/input_layernorm`);
    const q = linear(h, layer.wq, H * hd, D, `${a}/q_proj`, layer.bq);
    const k = linear(h, layer.wk, Hkv * hd, D, `${a}/k_proj`, layer.bk);
    const v = linear(h, layer.wv, Hkv * hd, D, `${a}/v_proj`, layer.bv);
    // [B,S,heads*hd] -> [B,heads,S,hd]
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
    const scores = g.op("Mul", [g.op("MatMul", [qg, kT], `${a}/qk`), attnScale], `${a}/scores`); // [B,Hkv,G,S,T]
    const probs = g.op("Softmax", [g.op("Add", [scores, maskBias], `${a}/masked_scores`)], `${a}/probs`, { axis: -1 });
    const ctx = g.op("MatMul", [probs, g.op("Unsqueeze", [values, axis2], `${a}/v_grouped`)], `${a}/context`); // [B,Hkv,G,S,hd]
    const merged = g.op("Reshape", [
      g.op("Transpose", [g.op("Reshape", [ctx, ungroupedShape], `${a}/context_heads`)], `${a}/context_bshd`, { perm: [0, 2, 1, 3] }),
      mergedShape,
    ], `${a}/context_merged`); // [B,S,H*hd]
    const attnOut = linear(merged, layer.wo, D, H * hd, `${a}/o_proj`);
    x = g.op("Add", [x, attnOut], `${p}/resid_mid`);
    // SwiGLU MLP: down(silu(gate(h)) * up(h))
    const m = `${p}/mlp`;
    const h2 = rmsNorm(x, layer.ffnNorm, `${p}/post_attention_layernorm`);
    const gate = linear(h2, layer.w1, F, D, `${m}/gate_proj`);
    const up = linear(h2, layer.w3, F, D, `${m}/up_proj`);
    const silu = g.op("Mul", [gate, g.op("Sigmoid", [gate], `${m}/act/Sigmoid`)], `${m}/act/Mul`);
    const down = linear(g.op("Mul", [silu, up], `${m}/Mul`), layer.w2, D, F, `${m}/down_proj`);
    x = g.op("Add", [x, down], N.residPost(l));
  });

  // ---- final norm and output head ----
  const hf = rmsNorm(x, w.finalNorm, "/model/norm");
  const head = w.config.tiedEmbeddings
    ? g.op("Transpose", [embedTokens], "/lm_head/tied_weight", { perm: [1, 0] }) // folded once by onnxruntime
    : g.f32("lm_head.weight", [D, V], transpose(w.lmHead, V, D));
  g.op("MatMul", [hf, head], "/lm_head/MatMul", {}, [N.LOGITS]);
  return g;
}
