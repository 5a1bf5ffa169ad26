/**
 * The main-thread side of onnx-worker.ts: a SessionRunner whose runs happen
 * in a Web Worker (Deno; Node 20 has no global Worker), so that the edge's
 * event loop keeps serving while the encoder computes. A worker that dies
 * fails its pending runs and every later one (the caller's fallback decides
 * those), and says so through `died`: restarting-runner.ts starts another.
 * A worker that does not answer a run within `hangMs` counts as dead too
 * (HungError). It is terminated, but Deno 2.9 stops neither a native run nor
 * a busy JavaScript loop in a worker: the thread is left to itself (the
 * process lives on, and the edge's exit ends it), so restarting-runner.ts
 * starts only a few replacements for hung workers.
 */
import { unrefTimer } from "../../proto/tls.ts";
import { rows } from "./onnx-session.ts";
import { HungError, type MortalRunner } from "./restarting-runner.ts";
import type { WorkerReply, WorkerRequest } from "./onnx-worker.ts";

/** The Web Worker API, as much of it as this uses (the project's TypeScript has no DOM lib). */
interface WebWorker {
  postMessage(m: WorkerRequest, transfer?: ArrayBuffer[]): void;
  terminate(): void;
  onmessage: ((e: { data: WorkerReply }) => void) | null;
  onerror: ((e: { message: string; preventDefault(): void }) => void) | null;
}
type WorkerConstructor = new (url: string, opts: { type: "module" }) => WebWorker;

/** Whether this runtime can run the encoder in a worker. */
export const canUseWorker = (): boolean => typeof (globalThis as { Worker?: unknown }).Worker === "function" && typeof (globalThis as { Deno?: unknown }).Deno === "object";

/** How long a run may go unanswered before the worker counts as hung (default of `hangMs`): a 4,000-character text takes 5 ms. */
export const WORKER_HANG_MS = 10_000;

export interface WorkerRunnerOptions {
  /** A run unanswered this long ends the worker (default WORKER_HANG_MS). */
  hangMs?: number;
}

/** A worker runner, and what tests make its worker do: throw outside any run, or hang in the next one. */
export type WorkerRunner = MortalRunner & { crash(): void; hang(): void };

export async function startWorkerRunner(model: Uint8Array, threads: number, opts: WorkerRunnerOptions = {}): Promise<WorkerRunner> {
  const hangMs = opts.hangMs ?? WORKER_HANG_MS;
  const Worker = (globalThis as unknown as { Worker: WorkerConstructor }).Worker;
  const worker = new Worker(new URL("./onnx-worker.ts", import.meta.url).href, { type: "module" });
  const post = (m: WorkerRequest, transfer: ArrayBuffer[] = []) => worker.postMessage(m, transfer);
  const pending = new Map<number, { resolve: (v: Float32Array) => void; reject: (e: Error) => void; timer: ReturnType<typeof setTimeout> }>();
  let failed: Error | undefined;
  let nextId = 0;
  let died: (err: Error) => void = () => {};
  const fail = (err: Error) => {
    failed ??= err;
    for (const p of pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    pending.clear();
  };
  const hung = () => {
    const err = new HungError(`encoder worker did not answer a run in ${hangMs} ms; left to itself`);
    if (!failed) died(err);
    fail(err);
    worker.terminate();
  };
  const loaded = new Promise<void>((resolve, reject) => {
    worker.onmessage = (e) => {
      const m = e.data;
      if (m.type === "loaded") return resolve();
      if (m.type === "load-error") return reject(new Error(m.message));
      const p = pending.get(m.id);
      pending.delete(m.id);
      if (p) clearTimeout(p.timer);
      if (m.type === "result") p?.resolve(m.data);
      else p?.reject(new Error(m.message));
    };
    worker.onerror = (e) => {
      e.preventDefault();
      const err = new Error(`encoder worker failed: ${e.message}`);
      if (!failed) died(err);
      fail(err);
      reject(err);
    };
  });
  post({ type: "load", model, threads }, [model.buffer as ArrayBuffer]);
  try {
    await loaded;
  } catch (err) {
    worker.terminate();
    throw err;
  }
  return {
    died: new Promise<Error>((resolve) => (died = resolve)),
    /** Makes the worker throw outside any run, as a worker that dies would (tests). */
    crash: () => post({ type: "crash" }),
    /** Makes the worker's next run loop forever, as a run that hangs would (tests). */
    hang: () => post({ type: "hang" }),
    get up() {
      return !failed;
    },
    run(seqs) {
      if (failed) return Promise.reject(failed);
      const id = nextId++;
      return new Promise<Float32Array>((resolve, reject) => {
        const timer = setTimeout(hung, hangMs);
        unrefTimer(timer);
        pending.set(id, { resolve, reject, timer });
        post({ type: "run", id, seqs });
      }).then((flat) => rows(flat, seqs.length));
    },
    release() {
      died = () => {};
      fail(new Error("encoder worker released"));
      worker.terminate();
      return Promise.resolve();
    },
  };
}
