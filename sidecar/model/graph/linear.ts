/**
 * How a linear layer y = x W^T (+ b) is stored and computed at each weight
 * precision (../quantize.ts). The activations around it, and so the residual
 * stream a steering hook reads and writes, stay float32 at every precision:
 *
 *   fp32  MatMul(x, W^T) with W^T a float32 [in, out] initializer.
 *   fp16  Cast(MatMul(Cast(x, fp16), W^T fp16), fp32): half the bytes, and the
 *         CUDA provider's tensor cores. onnxruntime's CPU provider has no
 *         fp16 MatMul; it runs the graph by inserting casts to float32.
 *   int8 / int4  MatMulNBits(x, B, scales) (com.microsoft): weight-only
 *         block-wise quantization, dequantized inside the kernel; with
 *         accuracy_level 4 the CPU kernel quantizes x per block to int8 and
 *         uses integer dot products (the fast path), 0 computes in float32.
 *
 * Weights may be lazy (a streamed build): each initializer is then a function
 * the writer calls when it gets there, so a weight is read, converted and
 * written alone.
 */
import { isLazy, loadWeight, type Weight } from "../lazy-tensor.ts";
import { toFloat16Array } from "../half.ts";
import { DEFAULT_BLOCK_SIZE, kBlocks, layerPrecision, QUANT_BITS, quantizeBlockwise, type BlockQuantized, type LinearName, type WeightPrecision } from "../quantize.ts";
import { DataType, type GraphBuilder, type InitializerData } from "./onnx-builder.ts";

export interface PrecisionOptions {
  /** Storage of the linear layers' weights (default fp32). */
  weights?: WeightPrecision;
  /** int8/int4: values per quantization block along the input dimension (default 32). */
  blockSize?: number;
  /** int8/int4: MatMulNBits accuracy_level (default 4: int8 activations on CPU; 0 = float32 math). */
  accuracyLevel?: number;
}

export const MS_DOMAIN = { name: "com.microsoft", version: 1 };

/** [out, in] row-major -> [in, out] row-major, the layout MatMul(x, W) wants. */
export function transpose(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = w[r * cols + c];
  return out;
}

/** `f` of the weight's values: computed now for an array in memory, at write time for a lazy weight. */
export function derive<T extends InitializerData = Float32Array>(w: Weight, f: (values: Float32Array) => T = (v) => v as T): T | (() => T) {
  return isLazy(w) ? () => f(loadWeight(w)) : f(w);
}

/**
 * The quantized form of a weight, for its two initializers (packed values and
 * scales): computed once, and for a lazy weight dropped once both are taken.
 */
function quantized(w: Weight, rows: number, cols: number, bits: 4 | 8, blockSize: number): () => BlockQuantized {
  let q: BlockQuantized | null = null;
  let taken = 0;
  const parts = bits === 4 ? 3 : 2;
  const get = () => {
    q ??= quantizeBlockwise(loadWeight(w), rows, cols, bits, blockSize);
    const out = q;
    if (++taken === parts) q = null;
    return out;
  };
  if (!isLazy(w)) {
    const now = get();
    return () => now;
  }
  return get;
}

/**
 * x @ W^T (+ b) for the weight `layer` W [out, in], stored at the model's
 * precision for that layer (../quantize.ts layerPrecision); `p` prefixes the
 * node and initializer names.
 */
export function linear(g: GraphBuilder, x: string, W: Weight, out: number, inp: number, p: string, layer: LinearName, opts: PrecisionOptions, b?: Weight): string {
  const precision = layerPrecision(opts.weights ?? "fp32", layer);
  let y: string;
  const bits = QUANT_BITS[precision];
  if (bits) {
    const bs = opts.blockSize ?? DEFAULT_BLOCK_SIZE;
    const nb = kBlocks(inp, bs);
    const q = quantized(W, out, inp, bits, bs);
    const part = <T extends InitializerData>(f: (q: BlockQuantized) => T) => (isLazy(W) ? () => f(q()) : f(q()));
    const inputs = [
      x,
      g.tensor(`${p}.weight_q${bits}`, [out, nb, (bs * bits) / 8], DataType.UINT8, part((q) => q.packed)),
      g.tensor(`${p}.weight_scales`, [out * nb], DataType.FLOAT, part((q) => q.scales)),
    ];
    if (bits === 4) inputs.push(g.tensor(`${p}.weight_zero_points`, [out * Math.ceil(nb / 2)], DataType.UINT8, part((q) => q.zeroPoints!)));
    y = g.op("MatMulNBits", inputs, `${p}/MatMulNBits`, { K: inp, N: out, bits, block_size: bs, accuracy_level: opts.accuracyLevel ?? 4 }, undefined, MS_DOMAIN);
  } else if (precision === "fp16") {
    const Wt = g.tensor(`${p}.weight`, [inp, out], DataType.FLOAT16, derive(W, (w) => toFloat16Array(transpose(w, out, inp))));
    y = matMulHalf(g, x, Wt, p);
  } else {
    y = g.op("MatMul", [x, g.f32(`${p}.weight`, [inp, out], derive(W, (w) => transpose(w, out, inp)))], `${p}/MatMul`);
  }
  return b ? g.op("Add", [y, g.f32(`${p}.bias`, [out], derive(b))], `${p}/Add`) : y;
}

/** Cast(MatMul(Cast(x, fp16), W16), fp32) for an fp16 weight tensor W16 [in, out]. */
export function matMulHalf(g: GraphBuilder, x: string, W16: string, p: string): string {
  const x16 = g.op("Cast", [x], `${p}/x_fp16`, { to: DataType.FLOAT16 });
  return g.op("Cast", [g.op("MatMul", [x16, W16], `${p}/MatMul`)], `${p}/y_fp32`, { to: DataType.FLOAT });
}

/**
 * The token embedding table [V, D] and the Gather that reads it: float32 at
 * fp32, else stored as fp16 (half the bytes; a row is cast to float32 after
 * the lookup). Returns the table's initializer name (a tied head reuses it).
 */
export function embedding(g: GraphBuilder, ids: string, W: Weight, V: number, D: number, opts: PrecisionOptions): { table: string; x: string } {
  const name = "model.embed_tokens.weight";
  if ((opts.weights ?? "fp32") === "fp32") {
    const table = g.f32(name, [V, D], derive(W));
    return { table, x: g.op("Gather", [table, ids], "/model/embed_tokens/Gather", { axis: 0 }) };
  }
  const table = g.tensor(name, [V, D], DataType.FLOAT16, derive(W, toFloat16Array));
  const rows = g.op("Gather", [table, ids], "/model/embed_tokens/Gather", { axis: 0 });
  return { table, x: g.op("Cast", [rows], "/model/embed_tokens/Cast", { to: DataType.FLOAT }) };
}

/**
 * The output head: logits = h @ lmHead^T. A tied head at fp32/fp16 reads the
 * embedding table through a Transpose (folded once by onnxruntime); at
 * int8/int4 it is its own quantized copy of the table.
 */
export function outputHead(g: GraphBuilder, h: string, lmHead: Weight, tiedTable: string | null, V: number, D: number, opts: PrecisionOptions): string {
  const precision = layerPrecision(opts.weights ?? "fp32", "lmHead");
  if (!tiedTable || QUANT_BITS[precision]) return linear(g, h, lmHead, V, D, "/lm_head", "lmHead", opts);
  const head = g.op("Transpose", [tiedTable], "/lm_head/tied_weight", { perm: [1, 0] });
  return precision === "fp16" ? matMulHalf(g, h, head, "/lm_head") : g.op("MatMul", [h, head], "/lm_head/MatMul");
}
