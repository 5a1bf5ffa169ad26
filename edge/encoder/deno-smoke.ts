/**
 * Loads the sentence encoder (wasm backend) and embeds the texts given as
 * arguments under Deno; prints JSON {runtime, backend, embeddings}.
 * Run: deno run --allow-read=<encoder dir>,<wasm dir> edge/encoder/deno-smoke.ts TEXT...
 */
import * as tf from "@tensorflow/tfjs-core";
import { SentenceEncoder } from "./index.ts";

const { args } = (globalThis as unknown as { Deno: { args: string[] } }).Deno;

const encoder = await SentenceEncoder.load();
const embeddings = await encoder.embedBatch(args);
console.log(
  JSON.stringify({
    runtime: typeof (globalThis as { Deno?: unknown }).Deno === "object" ? "deno" : "other",
    backend: tf.getBackend(),
    embeddings: embeddings.map((e) => Array.from(e)),
  }),
);
