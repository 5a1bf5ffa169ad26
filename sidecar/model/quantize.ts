/**
 * Weight precisions of a built model, and block-wise weight-only
 * quantization in the layout of onnxruntime's MatMulNBits (com.microsoft):
 *
 *   a weight W [N, K] (PyTorch's [out, in]) is cut along K into blocks of
 *   `blockSize` values (the last block zero-padded); each block has a float
 *   scale s and a zero point z and stores q = clamp(round(w / s) + z, 0, 2^bits - 1);
 *   the kernel computes w = (q - z) * s.
 *   B is uint8 [N, kBlocks, blockSize * bits / 8]: 8-bit values one per byte,
 *   4-bit values two per byte, the even-indexed one in the low nibble.
 *   scales are float32 [N * kBlocks]; zero points (4-bit) uint8, two per byte
 *   the same way, ceil(kBlocks / 2) bytes per row.
 *
 * 8-bit blocks are symmetric with the default zero point 128, and the scale
 * llama.cpp's Q8_0 uses: the value of largest magnitude m maps exactly to
 * q = 0, s = m / -128. 4-bit blocks are asymmetric (min/max, like ORT's
 * MatMul4BitsQuantizer and llama.cpp's Q4_1) with a search over clipped
 * ranges: of 9 candidate ranges [f * min, g * max], f, g in {1, .9, .8}, the
 * one with the least squared error (clipping a rare outlier buys resolution
 * for the rest of the block).
 *
 * `int4` models keep k_proj, v_proj, down_proj and the output head at 8 bits:
 * the layers 4-bit error hurts most (llama.cpp's Q4_K_M keeps v and down at
 * 6 bits, the head at 6); k and v are narrow under grouped-query attention,
 * so they cost few bytes. On organism260K this takes the perplexity increase
 * from +8.6% (all 4-bit) to +4.0% (`npm run eval:precision`). See layerPrecision().
 */
import { fromFloat16Array, toFloat16Array } from "./half.ts";
import type { LlamaWeights } from "./weights.ts";

export const WEIGHT_PRECISIONS = ["fp32", "fp16", "int8", "int4"] as const;
export type WeightPrecision = (typeof WEIGHT_PRECISIONS)[number];

/** Bits per value of the quantized precisions. */
export const QUANT_BITS: Partial<Record<WeightPrecision, 4 | 8>> = { int8: 8, int4: 4 };

export const DEFAULT_BLOCK_SIZE = 32;

export function isWeightPrecision(s: string): s is WeightPrecision {
  return (WEIGHT_PRECISIONS as readonly string[]).includes(s);
}

/** MatMulNBits block sizes: a power of two, at least 16. */
export function isBlockSize(n: number): boolean {
  return Number.isInteger(n) && n >= 16 && (n & (n - 1)) === 0;
}

export interface BlockQuantized {
  bits: 4 | 8;
  blockSize: number;
  /** N: rows (output features). */
  rows: number;
  /** K: columns (input features). */
  cols: number;
  /** [rows, kBlocks, blockSize * bits / 8] */
  packed: Uint8Array;
  /** [rows * kBlocks] */
  scales: Float32Array;
  /** 4-bit: [rows * ceil(kBlocks / 2)], two per byte; 8-bit: null (the default 128). */
  zeroPoints: Uint8Array | null;
}

export function kBlocks(cols: number, blockSize: number): number {
  return Math.ceil(cols / blockSize);
}

/** The linear layers of a block, by their LayerWeights names. */
export type LinearName = "wq" | "wk" | "wv" | "wo" | "w1" | "w2" | "w3" | "lmHead";

/** The precision a linear layer is stored at in a model of `precision` (see the header: int4 keeps some at int8). */
export function layerPrecision(precision: WeightPrecision, layer: LinearName): WeightPrecision {
  if (precision === "int4" && (layer === "wk" || layer === "wv" || layer === "w2" || layer === "lmHead")) return "int8";
  return precision;
}

const CLIP = [1, 0.9, 0.8];

/** Quantizes a row-major [rows, cols] matrix block-wise along its columns. */
export function quantizeBlockwise(w: Float32Array, rows: number, cols: number, bits: 4 | 8, blockSize = DEFAULT_BLOCK_SIZE): BlockQuantized {
  if (w.length !== rows * cols) throw new Error(`quantize: ${w.length} values for a [${rows}, ${cols}] matrix`);
  if (!isBlockSize(blockSize)) throw new Error(`quantize: block size ${blockSize} must be a power of two >= 16`);
  const nb = kBlocks(cols, blockSize);
  const blob = (blockSize * bits) / 8;
  const qmax = (1 << bits) - 1;
  const packed = new Uint8Array(rows * nb * blob);
  const scales = new Float32Array(rows * nb);
  const zpRow = bits === 4 ? Math.ceil(nb / 2) : 0;
  const zeroPoints = bits === 4 ? new Uint8Array(rows * zpRow) : null;
  const block = new Float32Array(blockSize);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < nb; b++) {
      block.fill(0);
      const from = r * cols + b * blockSize;
      block.set(w.subarray(from, from + Math.min(blockSize, cols - b * blockSize)));
      const { scale, zero } = bits === 8 ? symmetricRange(block) : searchRange(block, qmax);
      scales[r * nb + b] = scale;
      if (zeroPoints) zeroPoints[r * zpRow + (b >> 1)] |= b & 1 ? zero << 4 : zero;
      const inv = scale === 0 ? 0 : 1 / scale;
      const out = (r * nb + b) * blob;
      for (let i = 0; i < blockSize; i++) {
        const q = Math.min(qmax, Math.max(0, Math.round(block[i] * inv) + zero));
        if (bits === 8) packed[out + i] = q;
        else packed[out + (i >> 1)] |= i & 1 ? q << 4 : q;
      }
    }
  }
  return { bits, blockSize, rows, cols, packed, scales, zeroPoints };
}

/** 8-bit: zero point 128, the largest-magnitude value exact at q = 0. */
function symmetricRange(block: Float32Array): { scale: number; zero: number } {
  let m = 0;
  for (const x of block) if (Math.abs(x) > Math.abs(m)) m = x;
  return { scale: Math.fround(m / -128), zero: 128 };
}

/** 4-bit: the clipped [min, max] range (with 0 inside) whose quantization error is least. */
function searchRange(block: Float32Array, qmax: number): { scale: number; zero: number } {
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < block.length; i++) {
    const x = block[i];
    if (x < lo) lo = x;
    else if (x > hi) hi = x;
  }
  if (lo === hi) return { scale: 0, zero: 0 };
  let bestScale = 0;
  let bestZero = 0;
  let bestErr = Infinity;
  for (const f of CLIP) {
    for (const g of CLIP) {
      const scale = Math.fround((hi * g - lo * f) / qmax);
      let zero = Math.round((-lo * f) / scale);
      zero = zero < 0 ? 0 : zero > qmax ? qmax : zero;
      const inv = 1 / scale;
      let err = 0;
      for (let i = 0; i < block.length; i++) {
        const x = block[i];
        // floor(t + 0.5) == Math.round(t); truncation is floor for t >= 0, and t < 0 clamps to 0 either way
        let q = (x * inv + zero + 0.5) | 0;
        q = q < 0 ? 0 : q > qmax ? qmax : q;
        const d = (q - zero) * scale - x;
        err += d * d;
      }
      if (err < bestErr) ((bestErr = err), (bestScale = scale), (bestZero = zero));
    }
  }
  return { scale: bestScale, zero: bestZero };
}

/** The [rows, cols] float32 matrix a quantized weight stands for (what the kernel multiplies by). */
export function dequantizeBlockwise(q: BlockQuantized): Float32Array {
  const { bits, blockSize, rows, cols, packed, scales, zeroPoints } = q;
  const nb = kBlocks(cols, blockSize);
  const blob = (blockSize * bits) / 8;
  const zpRow = Math.ceil(nb / 2);
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const b = Math.floor(c / blockSize);
      const i = c % blockSize;
      const at = (r * nb + b) * blob;
      const v = bits === 8 ? packed[at + i] : (packed[at + (i >> 1)] >> ((i & 1) * 4)) & 0xf;
      const zero = zeroPoints ? (zeroPoints[r * zpRow + (b >> 1)] >> ((b & 1) * 4)) & 0xf : 1 << (bits - 1);
      out[r * cols + c] = (v - zero) * scales[r * nb + b];
    }
  }
  return out;
}

/**
 * The float32 weights a model built at `precision` actually multiplies by
 * (graph/linear.ts): linear layers and the output head rounded to fp16 or
 * quantized and dequantized, the embedding table rounded to fp16 below fp32;
 * norms and biases unchanged. The reference forward pass run on these is the
 * independent check of a quantized graph.
 */
export function asStored(w: LlamaWeights, precision: WeightPrecision, blockSize = DEFAULT_BLOCK_SIZE): LlamaWeights {
  if (precision === "fp32") return w;
  const half = (a: Float32Array) => fromFloat16Array(toFloat16Array(a));
  const stored = (name: LinearName) => (a: Float32Array, rows: number, cols: number) => {
    const bits = QUANT_BITS[layerPrecision(precision, name)];
    return bits ? dequantizeBlockwise(quantizeBlockwise(a, rows, cols, bits, blockSize)) : half(a);
  };
  const { dModel: D, nHeads, nKvHeads, headDim, hiddenDim: F, vocabSize: V } = w.config;
  const q = nHeads * headDim;
  const kv = nKvHeads * headDim;
  const tokenEmbedding = half(w.tokenEmbedding);
  const tiedHalf = w.config.tiedEmbeddings && precision === "fp16";
  return {
    ...w,
    tokenEmbedding,
    lmHead: tiedHalf ? tokenEmbedding : stored("lmHead")(w.lmHead, V, D),
    layers: w.layers.map((l) => ({
      ...l,
      wq: stored("wq")(l.wq, q, D),
      wk: stored("wk")(l.wk, kv, D),
      wv: stored("wv")(l.wv, kv, D),
      wo: stored("wo")(l.wo, D, q),
      w1: stored("w1")(l.w1, F, D),
      w2: stored("w2")(l.w2, D, F),
      w3: stored("w3")(l.w3, F, D),
    })),
  };
}
