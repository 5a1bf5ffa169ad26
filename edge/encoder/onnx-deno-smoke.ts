/**
 * Loads the onnxruntime sentence encoder (onnx.ts) and embeds the texts given
 * as arguments under Deno; prints JSON {runtime, embeddings}.
 * Run: ORT_DISABLE_TELEMETRY=1 deno run --allow-read=<encoder dir> --allow-ffi=<onnxruntime-node dir> edge/encoder/onnx-deno-smoke.ts TEXT...
 */
import { OnnxSentenceEncoder } from "./onnx.ts";

const { args } = (globalThis as unknown as { Deno: { args: string[] } }).Deno;

const encoder = await OnnxSentenceEncoder.load();
const embeddings = await encoder.embedBatch(args);
await encoder.release();
console.log(
  JSON.stringify({
    runtime: typeof (globalThis as { Deno?: unknown }).Deno === "object" ? "deno" : "other",
    embeddings: embeddings.map((e) => Array.from(e)),
  }),
);
