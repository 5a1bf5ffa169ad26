/**
 * Loads the onnxruntime sentence encoder (onnx.ts) on this thread and in a
 * worker, and embeds the texts given as arguments under Deno with both; then
 * crashes the worker, and embeds the first text while it is down and once
 * another has started (restarting-runner.ts); then hangs that one, and embeds
 * the first text while it hangs (given up on after HANG_MS) and once another
 * has started; prints JSON {runtime, threads, embeddings, worker, whileDown,
 * restarted, whileHung, afterHang, log}.
 * Run: ORT_DISABLE_TELEMETRY=1 deno run --allow-read=<encoder dir> --allow-ffi=<onnxruntime-node dir> edge/encoder/onnx-deno-smoke.ts TEXT...
 */
import { OnnxSentenceEncoder } from "./onnx.ts";
import type { RestartingRunner } from "./restarting-runner.ts";

const { args } = (globalThis as unknown as { Deno: { args: string[] } }).Deno;
const HANG_MS = 500;

const encoder = await OnnxSentenceEncoder.load();
const log: string[] = [];
const inWorker = await OnnxSentenceEncoder.load({ worker: true, log: (m) => log.push(m), hangMs: HANG_MS }); // the edge's way (worker-runner.ts)
const embeddings = await encoder.embedBatch(args);
const worker = await Promise.all(args.map((t) => inWorker.embed(t))); // concurrent calls, each its own answer

const restarting = inWorker.sessionRunner as RestartingRunner;
(restarting.runner as unknown as { crash(): void }).crash();
while (restarting.runner) await new Promise((r) => setTimeout(r, 5));
const whileDown = `${inWorker.up ? "up" : "down"}: ${await inWorker.embed(args[0]!).then(() => "answered", (e: Error) => e.message)}`;
while (!restarting.runner) await new Promise((r) => setTimeout(r, 20));
const restarted = Array.from(await inWorker.embed(args[0]!));
const upAgain = inWorker.up;

(restarting.runner as unknown as { hang(): void }).hang(); // its next run never ends
const hungAt = performance.now();
const whileHung = await inWorker.embed(args[0]!).then(
  () => "answered",
  (e: Error) => `${e.message} (after ${performance.now() - hungAt >= HANG_MS ? "at least" : "less than"} HANG_MS)`,
);
while (!restarting.runner) await new Promise((r) => setTimeout(r, 20));
const afterHang = Array.from(await inWorker.embed(args[0]!));
await Promise.all([encoder.release(), inWorker.release()]);
console.log(
  JSON.stringify({
    runtime: typeof (globalThis as { Deno?: unknown }).Deno === "object" ? "deno" : "other",
    threads: [encoder.thread, inWorker.thread],
    embeddings: embeddings.map((e) => Array.from(e)),
    worker: worker.map((e) => Array.from(e)),
    whileDown,
    restarted,
    upAgain,
    whileHung,
    afterHang,
    log,
  }),
);
// The hung worker's thread is still looping (Deno cannot stop it) and would keep the process alive; the
// edge ends that way too (Deno.exit, edge/main.ts).
(globalThis as unknown as { Deno: { exit(code: number): never } }).Deno.exit(0);
