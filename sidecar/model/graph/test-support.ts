/**
 * Helpers for tests that run a built decoder with onnxruntime-node: one
 * forward call with explicit past key/values, and a batch-1 greedy loop.
 */
import * as ort from "onnxruntime-node";
import type { LlamaConfig } from "../weights.ts";
import * as N from "./names.ts";

export interface Past {
  keys: ort.Tensor[];
  values: ort.Tensor[];
}

/** An empty cache (P = 0) for a batch of `batch` rows. */
export function emptyPast(c: LlamaConfig, batch: number): Past {
  const empty = () => new ort.Tensor("float32", new Float32Array(0), [batch, c.nKvHeads, 0, c.headDim]);
  return { keys: Array.from({ length: c.nLayers }, empty), values: Array.from({ length: c.nLayers }, empty) };
}

const i64 = (rows: number[][]) => new ort.Tensor("int64", BigInt64Array.from(rows.flat().map(BigInt)), [rows.length, rows[0].length]);

/**
 * Runs one step: ids/positions are [B][S], mask is [B][P+S]; `extra` adds
 * more inputs (e.g. a steering hook's). Returns logits[b][s] (each a [V]
 * array), the new past, and the raw outputs.
 */
export async function runStep(
  session: ort.InferenceSession,
  c: LlamaConfig,
  ids: number[][],
  positions: number[][],
  mask: number[][],
  past: Past,
  extra: Record<string, ort.Tensor> = {},
) {
  const feeds: Record<string, ort.Tensor> = {
    ...extra,
    [N.INPUT_IDS]: i64(ids),
    [N.POSITION_IDS]: i64(positions),
    [N.ATTENTION_MASK]: i64(mask),
  };
  for (let l = 0; l < c.nLayers; l++) {
    feeds[N.pastKey(l)] = past.keys[l];
    feeds[N.pastValue(l)] = past.values[l];
  }
  const out = await session.run(feeds);
  const data = out[N.LOGITS].data as Float32Array;
  const [B, S, V] = out[N.LOGITS].dims as number[];
  const logits = Array.from({ length: B }, (_, b) => Array.from({ length: S }, (_, s) => data.slice((b * S + s) * V, (b * S + s + 1) * V)));
  const next: Past = {
    keys: Array.from({ length: c.nLayers }, (_, l) => out[N.presentKey(l)]),
    values: Array.from({ length: c.nLayers }, (_, l) => out[N.presentValue(l)]),
  };
  return { logits, past: next, outputs: out };
}

/** Greedy decoding at batch 1 with the graph: returns the `steps` generated ids. */
export async function graphGreedy(session: ort.InferenceSession, c: LlamaConfig, prompt: number[], steps: number): Promise<number[]> {
  let past = emptyPast(c, 1);
  let r = await runStep(session, c, [prompt], [prompt.map((_, i) => i)], [prompt.map(() => 1)], past);
  const out: number[] = [];
  let len = prompt.length;
  for (let s = 0; s < steps; s++) {
    const logits = r.logits[0].at(-1)!;
    let next = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i] > logits[next]) next = i;
    out.push(next);
    if (s + 1 === steps) break;
    past = r.past;
    r = await runStep(session, c, [[next]], [[len]], [Array(len + 1).fill(1)], past);
    len++;
  }
  return out;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
