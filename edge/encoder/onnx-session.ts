/**
 * The encoder's onnxruntime session, made and run the same way on the
 * thread that loads it (onnx.ts) and in a worker (onnx-worker.ts): the
 * session options, and one padded batch of piece ids in, one embedding per
 * row out.
 */
import * as ort from "onnxruntime-node";
import { EMBEDDING_DIM, INPUT_IDS, INPUT_LENGTHS, OUTPUT_EMBEDDINGS } from "./onnx/io.ts";

/** What runs batches of piece ids: a session on this thread, or one in a worker. */
export interface SessionRunner {
  /** Unit-norm embeddings, one per sequence. */
  run(seqs: number[][]): Promise<Float32Array[]>;
  release(): Promise<void>;
  /** Whether runs can succeed now (false while a worker is dead or being replaced). */
  readonly up: boolean;
}

/** A session over the encoder's ONNX model: `threads` intra-op threads that sleep, not spin, when idle. */
export function createSession(model: Uint8Array, threads: number): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(model, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all",
    extra: { session: { intra_op: { allow_spinning: "0" } } },
  });
}

/** One padded batch through the session: the embeddings, row after row (EMBEDDING_DIM each). */
export async function runSession(session: ort.InferenceSession, seqs: number[][]): Promise<Float32Array> {
  const width = Math.max(...seqs.map((s) => s.length));
  const ids = new Int32Array(seqs.length * width); // padding: piece 0, masked by `lengths`
  seqs.forEach((s, i) => ids.set(s, i * width));
  const out = await session.run({
    [INPUT_IDS]: new ort.Tensor("int32", ids, [seqs.length, width]),
    [INPUT_LENGTHS]: new ort.Tensor("int32", Int32Array.from(seqs, (s) => s.length), [seqs.length]),
  });
  return out[OUTPUT_EMBEDDINGS]!.data as Float32Array;
}

/** Rows of a flat embedding array. */
export function rows(flat: Float32Array, n: number): Float32Array[] {
  return Array.from({ length: n }, (_, i) => flat.slice(i * EMBEDDING_DIM, (i + 1) * EMBEDDING_DIM));
}

/** A session on the calling thread (its runs block that thread: onnxruntime-node runs synchronously). */
export function inThreadRunner(session: ort.InferenceSession): SessionRunner {
  return {
    run: async (seqs) => rows(await runSession(session, seqs), seqs.length),
    release: () => session.release(),
    up: true,
  };
}
