/**
 * universal-sentence-encoder-lite's forward pass written by hand as an ONNX
 * graph, from the tfjs model's weights (model.json's node list is the
 * reference: the names below are its nodes). Dense input instead of the tfjs
 * graph's sparse one:
 *
 *   ids      int32 [batch, seq]  piece ids; positions past a row's length are
 *                                padding (any valid id, e.g. 0)
 *   lengths  int32 [batch]       pieces in each row
 *   → embeddings float32 [batch, 512], unit norm
 *
 * What the tfjs graph does, and this mirrors (T = TransformerStack):
 * - ClipToMaxLength drops positions >= 128; SparseToDense fills the rest with
 *   -1, and Greater(dense, -1) is the mask: a position is real iff the input
 *   had it. Piece id 0 (unknown) is a real piece, not padding.
 * - Layer_0 input: Scatter(embedding) + Scatter(Gather(embedding) + timing),
 *   i.e. 2 x embedding + timing signal at real positions, 0 at padding.
 *   Timing: [sin | cos](position x inv_timescales), 128 + 128 channels.
 * - Each layer: pre-norm attention (layer norm with eps 1e-6 as Mean/Square/
 *   Rsqrt; qkv and output are 1x1 convolutions = matmuls; 4 heads; q scaled;
 *   key padding bias -1e9), plus a residual: in Layer_0 a dense 256→512 of
 *   the input, in Layer_1 the input itself. Then pre-norm FFN (relu), plus
 *   its input.
 * - Pooling: mean over the first L positions, L = real count (at least 1 in
 *   the divisor; an all-padding row pools to 0), then tanh(512→512) and l2
 *   normalize with max(sum of squares, 1e-12).
 *
 * The tfjs graph runs the residual dense and the FFNs at real positions only
 * (GatherNd/ScatterNd, 0 at padding). Here every position is computed: a
 * padding position never reaches a real one (keys are masked, pooling reads
 * real positions only), so that changes no output, and padding is only
 * ever at a row's end (`lengths`).
 */
import type { EncoderFiles } from "../files.ts";
import { DataType, OnnxGraph } from "./builder.ts";
import { TfjsWeights } from "./weights.ts";

import { INPUT_IDS, INPUT_LENGTHS, OUTPUT_EMBEDDINGS } from "./io.ts";
export { INPUT_IDS, INPUT_LENGTHS, OUTPUT_EMBEDDINGS };

const KONA = "module_apply_default/Encoder_en/KonaTransformer/";
const STACK = `${KONA}Encode/TransformerStack/`;
/** Per-layer biases and layer norm parameters. */
const params = (i: number) => `${KONA}Encode/Layer_${i}/TransformerLayer/`;
/** Per-layer constants and FFN kernels. */
const stack = (i: number) => `${STACK}Layer_${i}/TransformerLayer/`;
/** Attention kernels (1x1 conv filters [1, 1, in, out]). */
const kernels = (i: number) => `module/Encoder_en/KonaTransformer/Encode/Layer_${i}/TransformerLayer/MultiheadAttention/`;
const CONCAT = "ConcatPartitions/concat";

interface LayerShape {
  /** input width: 256 (Layer_0), 512 (Layer_1) */
  dIn: number;
  heads: number;
  headDim: number;
}

/** Builds the encoder's ONNX model (ModelProto bytes) from the package's files. */
export function buildEncoderGraph(files: Pick<EncoderFiles, "model" | "shards">, metadata: Record<string, string> = {}): Uint8Array {
  const w = TfjsWeights.from(files);
  const g = new OnnxGraph();

  const vocab = w.f32("module/Embeddings_en", [8002, 256]);
  const maxLen = w.i32(`${KONA}ClipToMaxLength/Less/y`, [])[0]!;
  const invTimescales = w.f32(`${STACK}Layer_0/AddTimingSignal/TimingSignal/ExpandDims_1`, [1, 128]);
  const eps = w.scalar(`${stack(1)}FFN/layer_prepostprocess/layer_norm/Cast/x`);
  const padBias = w.scalar(`${stack(1)}MultiheadAttention/DotProductAttention/attention_bias_ignore_padding/mul/y`);
  // Both layers' split_heads reshapes use this one head count (Layer_0's Pack reads Layer_1's constant).
  const heads = w.i32(`${stack(1)}MultiheadAttention/split_heads/split_last_dimension/Reshape/shape/2`, [])[0]!;
  const layers: LayerShape[] = [0, 1].map((i) => {
    const headDim = w.i32(`${stack(i)}MultiheadAttention/split_heads/split_last_dimension/Reshape/shape/3`, [])[0]!;
    return { dIn: heads * headDim, heads, headDim };
  });

  // Inputs, clipped to the model's maximum length like ClipToMaxLength.
  const idsIn = g.input(INPUT_IDS, DataType.INT32, ["batch", "seq"]);
  const lengths = g.input(INPUT_LENGTHS, DataType.INT32, ["batch"]);
  const ids = g.op("Slice", [idsIn, g.i64("clip/start", [0]), g.i64("clip/end", [maxLen]), g.i64("clip/axes", [1])], "clip/ids");

  // mask [batch, seq] (1 at real positions), as float, and [batch, seq, 1].
  const shape = g.op("Shape", [ids], "mask/shape");
  const seq1 = g.op("Slice", [shape, g.i64("mask/one_1d", [1]), g.i64("mask/two_1d", [2]), g.i64("mask/zero_1d", [0])], "mask/seq_1d");
  const seq = g.op("Squeeze", [seq1, g.i64("mask/squeeze_axes", [0])], "mask/seq");
  const positions = g.op("Range", [g.i64("mask/zero", [0], []), seq, g.i64("mask/one", [1], [])], "mask/positions");
  const lengthCol = g.op("Unsqueeze", [g.op("Cast", [lengths], "mask/lengths_i64", { to: DataType.INT64 }), g.i64("mask/col_axes", [1])], "mask/lengths_col");
  const mask2 = g.op("Cast", [g.op("Less", [positions, lengthCol], "mask/less")], "mask/float", { to: DataType.FLOAT });
  const mask = g.op("Unsqueeze", [mask2, g.i64("mask/last_axes", [2])], "mask/expanded");
  const one = g.scalar("one", 1);
  // attention_bias_ignore_padding: (not mask) x -1e9, as [batch, 1, 1, seq]
  const notMask = g.op("Sub", [one, mask2], "bias/not_mask");
  const bias = g.op("Unsqueeze", [g.op("Mul", [notMask, g.scalar("bias/y", padBias)], "bias/mul"), g.i64("bias/axes", [1, 2])], "bias/expanded");

  // Layer_0 input: emb + (emb + timing) (AddTimingSignal returns x + signal, which is added to x).
  const emb = g.op("Gather", [g.f32("embeddings_table", [8002, 256], vocab), ids], "embed/lookup", { axis: 0 });
  const timing = g.op("Slice", [g.f32("timing/table", [maxLen, 256], timingTable(maxLen, invTimescales)), g.i64("timing/start", [0]), seq1, g.i64("timing/axes", [0])], "timing/signal");
  const x0 = g.op("Add", [emb, g.op("Add", [emb, timing], "timing/add")], "layer0/input");

  const layerNorm = (x: string, prefix: string, d: number, name: string) =>
    g.op("LayerNormalization", [x, g.f32(`${name}/scale`, [d], w.f32(`${prefix}layer_norm/layer_norm_scale/${CONCAT}`, [d])), g.f32(`${name}/bias`, [d], w.f32(`${prefix}layer_norm/layer_norm_bias/${CONCAT}`, [d]))], name, { axis: -1, epsilon: { f: eps } });
  const dense = (x: string, kernel: Float32Array, b: Float32Array, dIn: number, dOut: number, name: string) =>
    g.op("Add", [g.op("MatMul", [x, g.f32(`${name}/kernel`, [dIn, dOut], kernel)], `${name}/matmul`), g.f32(`${name}/bias`, [dOut], b)], name);

  const attention = (i: number, x: string, { dIn, heads, headDim }: LayerShape) => {
    const n = `layer${i}/attention`;
    const h = layerNorm(x, `${params(i)}layer_prepostprocess/`, dIn, `${n}/norm`);
    const qkv = dense(h, w.f32(`${kernels(i)}qkv_transform_single/kernel/part_0`, [1, 1, dIn, 3 * dIn]), w.f32(`${params(i)}MultiheadAttention/qkv_transform_single/bias/${CONCAT}`, [3 * dIn]), dIn, 3 * dIn, `${n}/qkv`);
    const sizes = w.i32(`${stack(i)}MultiheadAttention/Const`, [3]);
    if (sizes.some((s) => s !== dIn)) throw new Error(`encoder graph: Layer_${i} splits qkv as [${sizes}], expected 3 x ${dIn}`);
    g.op("Split", [qkv, g.i64(`${n}/split_sizes`, sizes)], `${n}/split`, { axis: 2 }, 3);
    const headShape = g.i64(`${n}/head_shape`, [0, 0, heads, headDim]);
    const split = (j: number, perm: number[], part: string) => g.op("Transpose", [g.op("Reshape", [`${n}/split:${j}`, headShape], `${n}/${part}_heads`)], `${n}/${part}`, { perm });
    const q = g.op("Mul", [split(0, [0, 2, 1, 3], "q"), g.scalar(`${n}/q_scale`, w.scalar(`${stack(i)}MultiheadAttention/mul/y`))], `${n}/q_scaled`);
    const kT = split(1, [0, 2, 3, 1], "k_t");
    const v = split(2, [0, 2, 1, 3], "v");
    const logits = g.op("Add", [g.op("MatMul", [q, kT], `${n}/qk`), bias], `${n}/logits`);
    const weights = g.op("Softmax", [logits], `${n}/weights`, { axis: -1 });
    const heads_ = g.op("Transpose", [g.op("MatMul", [weights, v], `${n}/context`)], `${n}/context_t`, { perm: [0, 2, 1, 3] });
    const combined = g.op("Reshape", [heads_, g.i64(`${n}/combined_shape`, [0, 0, dIn])], `${n}/combined`);
    const oKernel = w.f32(`${kernels(i)}output_transform_single/kernel/part_0`, [1, 1, dIn, 512]);
    return dense(combined, oKernel, w.f32(`${params(i)}MultiheadAttention/output_transform_single/bias/${CONCAT}`, [512]), dIn, 512, `${n}/output`);
  };

  // FFN plus its input.
  const ffnBlock = (i: number, x: string) => {
    const n = `layer${i}/ffn`;
    const h = layerNorm(x, `${params(i)}FFN/layer_prepostprocess/`, 512, `${n}/norm`);
    const conv1 = dense(h, w.f32(`${stack(i)}FFN/conv1/Tensordot/Reshape_1`, [512, 1536]), w.f32(`${params(i)}FFN/conv1/bias/${CONCAT}`, [1536]), 512, 1536, `${n}/conv1`);
    const conv2 = dense(g.op("Relu", [conv1], `${n}/relu`), w.f32(`${stack(i)}FFN/conv2/Tensordot/Reshape_1`, [1536, 512]), w.f32(`${params(i)}FFN/conv2/bias/${CONCAT}`, [512]), 1536, 512, `${n}/conv2`);
    return g.op("Add", [conv2, x], `${n}/residual`);
  };

  // Layer_0: its residual is AdjustResidualInput's dense 256→512.
  const adjusted = dense(x0, w.f32(`${params(0)}dense/kernel/${CONCAT}`, [256, 512]), w.f32(`${params(0)}dense/bias/${CONCAT}`, [512]), 256, 512, "layer0/adjust_residual");
  const a0 = g.op("Add", [attention(0, x0, layers[0]!), adjusted], "layer0/attention/residual");
  const y0 = ffnBlock(0, a0);
  const a1 = g.op("Add", [attention(1, y0, layers[1]!), y0], "layer1/attention/residual");
  const y1 = ffnBlock(1, a1);

  // Mean over real positions; tanh layer; l2 normalize.
  const axis1 = g.i64("pool/axes", [1]);
  const summed = g.op("ReduceSum", [g.op("Mul", [y1, mask], "pool/masked"), axis1], "pool/sum", { keepdims: 0 });
  const count = g.op("Max", [g.op("ReduceSum", [mask2, axis1], "pool/count", { keepdims: 1 }), one], "pool/count_at_least_1");
  const pooled = g.op("Div", [summed, count], "pool/mean");
  const hidden = "module/Encoder_en/hidden_layers/tanh_layer_0/";
  const t = g.op("Tanh", [dense(pooled, w.f32(`${hidden}weights`, [512, 512]), w.f32(`${hidden}bias`, [512]), 512, 512, "tanh_layer")], "tanh_layer/tanh");
  const sq = g.op("ReduceSum", [g.op("Mul", [t, t], "l2/square"), axis1], "l2/sum", { keepdims: 1 });
  const l2Eps = w.scalar("module_apply_default/Encoder_en/hidden_layers/l2_normalize/Maximum/y");
  const norm = g.op("Sqrt", [g.op("Max", [sq, g.scalar("l2/eps", l2Eps)], "l2/max")], "l2/norm");
  g.op("Div", [t, norm], OUTPUT_EMBEDDINGS);
  g.output(OUTPUT_EMBEDDINGS, DataType.FLOAT, ["batch", 512]);
  return g.serialize("universal_sentence_encoder_lite", metadata);
}

/**
 * The timing signal for positions 0..n-1: [sin | cos](p x inv_timescales),
 * the product rounded to float32 as tfjs's Mul does, then sin/cos of it.
 */
function timingTable(n: number, invTimescales: Float32Array): Float32Array {
  const half = invTimescales.length;
  const out = new Float32Array(n * 2 * half);
  for (let p = 0; p < n; p++) {
    for (let j = 0; j < half; j++) {
      const arg = Math.fround(p * invTimescales[j]!);
      out[p * 2 * half + j] = Math.sin(arg);
      out[p * 2 * half + half + j] = Math.cos(arg);
    }
  }
  return out;
}
