/**
 * The encoder's session in a worker (Web Worker API: Deno; see
 * worker-runner.ts), so that a model run does not hold the thread that serves
 * requests: onnxruntime-node runs a session synchronously on its caller's
 * thread. The worker inherits the edge's permissions (FFI for
 * onnxruntime-node) and reads nothing: the ONNX model arrives as bytes.
 *
 *   in:  { type: "load", model: Uint8Array, threads }   once
 *        { type: "run", id, seqs: number[][] }
 *        { type: "crash" }   throws outside any run, as a dying worker would (tests)
 *        { type: "hang" }    makes the next run loop forever, as a run that hangs would (tests)
 *   out: { type: "loaded" } | { type: "load-error", message }
 *        { type: "result", id, data: Float32Array (rows of EMBEDDING_DIM) } | { type: "error", id, message }
 */
import type { InferenceSession } from "onnxruntime-node";
import { createSession, runSession } from "./onnx-session.ts";

export type WorkerRequest = { type: "load"; model: Uint8Array; threads: number } | { type: "run"; id: number; seqs: number[][] } | { type: "crash" } | { type: "hang" };
export type WorkerReply =
  | { type: "loaded" }
  | { type: "load-error"; message: string }
  | { type: "result"; id: number; data: Float32Array }
  | { type: "error"; id: number; message: string };

/** The Web Worker global scope, as much of it as this uses (the project's TypeScript has no DOM lib). */
interface WorkerScope {
  onmessage: ((e: { data: WorkerRequest }) => void) | null;
  postMessage(m: WorkerReply, transfer?: ArrayBuffer[]): void;
}
const scope = globalThis as unknown as WorkerScope;
let session: InferenceSession | undefined;
// Runs one at a time, in arrival order (the main side sends one at a time anyway).
let queue: Promise<unknown> = Promise.resolve();
let hangNextRun = false;

scope.onmessage = (e) => {
  const m = e.data;
  if (m.type === "crash") {
    setTimeout(() => {
      throw new Error("crash requested");
    });
    return;
  }
  if (m.type === "hang") {
    hangNextRun = true;
    return;
  }
  queue = queue.then(async () => {
    if (m.type === "load") {
      try {
        session = await createSession(m.model, m.threads);
        scope.postMessage({ type: "loaded" });
      } catch (err) {
        scope.postMessage({ type: "load-error", message: (err as Error).message });
      }
      return;
    }
    try {
      if (!session) throw new Error("encoder worker: no session loaded");
      while (hangNextRun); // a run that never ends (tests: the "hang" message)
      const data = await runSession(session, m.seqs);
      scope.postMessage({ type: "result", id: m.id, data }, [data.buffer as ArrayBuffer]);
    } catch (err) {
      scope.postMessage({ type: "error", id: m.id, message: (err as Error).message });
    }
  });
};
