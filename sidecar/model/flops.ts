/**
 * The arithmetic of a prompt's prefill, from the model's shape: what a
 * benchmark divides its times by to tell "more work per token" (attention
 * over a longer context) from "slower work" (a kernel below the rate of the
 * linear layers).
 *
 * Counted as onnxruntime computes it, a multiply-add as 2 operations:
 * - linear: 2 x the block weights per token (q, k, v, o, gate, up, down);
 * - attention: a chunk of c queries after p cached positions, per layer and
 *   query head, QK^T and then softmax(QK^T)V over all p + c keys:
 *   4 x headDim x c x (p + c). GroupQueryAttention's CPU kernel and the plain
 *   graph's MatMuls both compute the masked half of the chunk's own square and
 *   then zero it, so a whole prompt in one run costs n^2, not n^2 / 2;
 * - head: 2 x dModel x vocab per position it runs on (every position in a
 *   graph that holds the head; the last one where the engine runs the head
 *   on its own, segmented.ts).
 * Norms, rotary, the softmax's exponentials and the adds are left out: each
 * is a few operations per value where the products are hundreds.
 * Sliding windows are ignored (the kernel still computes every key's score).
 */
import type { LlamaDims } from "./weights.ts";

export interface PrefillFlops {
  linear: number;
  attention: number;
  head: number;
  total: number;
}

export interface PrefillShape {
  /** Tokens per model run (0 or absent: the whole prompt in one run). */
  chunk?: number;
  /** Where the output head runs: on every position of each run, or on the prompt's last position only. */
  headRows: "all" | "last";
}

/** Weights of one block's linear layers (q, k, v, o, gate, up, down). */
export function linearWeightsPerLayer(d: LlamaDims): number {
  const q = d.nHeads * d.headDim;
  const kv = d.nKvHeads * d.headDim;
  return d.dModel * (2 * q + 2 * kv) + 3 * d.dModel * d.hiddenDim;
}

/** Operations of prefilling `tokens` prompt tokens in runs of `shape.chunk`. */
export function prefillFlops(d: LlamaDims, tokens: number, shape: PrefillShape): PrefillFlops {
  const chunk = shape.chunk && shape.chunk > 0 ? shape.chunk : tokens;
  let keyQueries = 0; // sum over runs of c * (p + c)
  for (let p = 0; p < tokens; p += chunk) {
    const c = Math.min(chunk, tokens - p);
    keyQueries += c * (p + c);
  }
  const linear = 2 * linearWeightsPerLayer(d) * d.nLayers * tokens;
  const attention = 4 * d.headDim * d.nHeads * d.nLayers * keyQueries;
  const head = 2 * d.dModel * d.vocabSize * (shape.headRows === "all" ? tokens : 1);
  return { linear, attention, head, total: linear + attention + head };
}

/**
 * The most the rate at `long` tokens can be as a share of the rate at `short`
 * when every operation runs at one speed: operations per token at `short`
 * over those at `long`.
 */
export function rateCeiling(d: LlamaDims, short: number, long: number, shape: PrefillShape): number {
  return prefillFlops(d, short, shape).total / short / (prefillFlops(d, long, shape).total / long);
}
