/**
 * Loads the onnxruntime sentence encoder (onnx.ts) on this thread and in a
 * worker, and embeds the texts given as arguments under Deno with both;
 * prints JSON {runtime, threads, embeddings, worker}.
 * Run: ORT_DISABLE_TELEMETRY=1 deno run --allow-read=<encoder dir> --allow-ffi=<onnxruntime-node dir> edge/encoder/onnx-deno-smoke.ts TEXT...
 */
import { OnnxSentenceEncoder } from "./onnx.ts";

const { args } = (globalThis as unknown as { Deno: { args: string[] } }).Deno;

const encoder = await OnnxSentenceEncoder.load();
const inWorker = await OnnxSentenceEncoder.load({ worker: true }); // the edge's way (worker-runner.ts)
const embeddings = await encoder.embedBatch(args);
const worker = await Promise.all(args.map((t) => inWorker.embed(t))); // concurrent calls, each its own answer
await Promise.all([encoder.release(), inWorker.release()]);
console.log(
  JSON.stringify({
    runtime: typeof (globalThis as { Deno?: unknown }).Deno === "object" ? "deno" : "other",
    threads: [encoder.thread, inWorker.thread],
    embeddings: embeddings.map((e) => Array.from(e)),
    worker: worker.map((e) => Array.from(e)),
  }),
);
