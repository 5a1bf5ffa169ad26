/**
 * Long prompts are tokenized on a worker thread of their own, so the thread
 * that steps every stream does not stop for them. Tokenizing costs 0.25-1 µs
 * a character here (npm run bench:tokenizer): a 500,000-character prompt
 * for a 128k-context model would otherwise hold every running stream for
 * 125-500 ms.
 *
 * - Prompts under `minChars` characters are encoded where they arrive: they
 *   cost less than a second copy of the tokenizer (the default), or than the
 *   round trip to the thread (about 0.6 ms).
 * - The thread starts with the first long prompt, which is encoded where it
 *   arrives meanwhile; its tokenizer is a second copy of the engine's.
 * - If the thread dies, the prompts it held are encoded where they arrived
 *   (ThreadGoneError tells the caller to), and it is started again with a
 *   long prompt at least `restartDelayMs` later.
 * The thread only runs the BPE (prompt-ids.ts encodePrompt): a prompt is
 * checked, and refused, on the engine's thread before it gets here, so a
 * flood of oversized prompts never starts the thread.
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import type { Manifest } from "../model/manifest.ts";
import { textChars, type PromptText } from "./prompt-ids.ts";

/**
 * Prompts of at least this many characters go to the thread: about 8k tokens,
 * 10-25 ms of tokenizing here. The thread's copy of the tokenizer costs memory
 * (bundled, resident: Llama 2's +78 MB, Llama 3's +199 MB, Gemma 2's +337 MB),
 * so only a deployment that gets prompts this long pays it.
 */
export const DEFAULT_TOKENIZER_THREAD_CHARS = 32_000;

/** What the thread loads: the model's tokenizer. */
export interface TokenizerInit {
  modelDir: string;
  manifest: Pick<Manifest, "tokenizer" | "dims">;
}

export type ToTokenizer = { type: "encode"; id: number; text: PromptText } | { type: "crash" };
export type FromTokenizer =
  | { type: "ready" }
  | { type: "failed"; message: string }
  | { type: "ids"; id: number; ids: number[] }
  | { type: "error"; id: number; message: string };

/** The thread died with this prompt, or failed on it: encode it where it arrived. */
export class ThreadGoneError extends Error {
  override name = "ThreadGoneError";
}

export interface TokenizerThreadOptions {
  /** Prompts of at least this many characters go to the thread (0: none). */
  minChars: number;
  /** Least time between a death and the next start (default 10 s). */
  restartDelayMs?: number;
  /** Told when the thread fails to load or dies. */
  log?: (line: string) => void;
}

/** The worker's first module: tokenizer-boot.mjs beside this file (it loads the worker through tsx), or the bundle's. */
function workerEntry(): URL {
  const boot = new URL("./tokenizer-boot.mjs", import.meta.url);
  return existsSync(fileURLToPath(boot)) ? boot : new URL("./tokenizer-worker.mjs", import.meta.url);
}

interface Pending {
  resolve: (ids: number[]) => void;
  reject: (err: Error) => void;
}

export class TokenizerThread {
  private worker: Worker | undefined;
  private ready = false;
  private diedAt = -Infinity;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  /** Prompts sent to the thread so far (tests, logs). */
  offloaded = 0;

  constructor(
    private readonly init: TokenizerInit,
    private readonly o: TokenizerThreadOptions,
  ) {}

  /** Whether a prompt is long enough for the thread (whether or not it is up). */
  takes(text: PromptText): boolean {
    return this.o.minChars > 0 && textChars(text) >= this.o.minChars;
  }

  /** Whether the thread is running or starting (tests). */
  get running(): boolean {
    return this.worker !== undefined;
  }

  /** The prompt's ids from the thread, or undefined: encode it where it arrived (short, or the thread not up). */
  encode(text: PromptText): Promise<number[]> | undefined {
    if (!this.takes(text)) return undefined;
    if (!this.ready) {
      this.start();
      return undefined;
    }
    const id = this.nextId++;
    this.offloaded++;
    return new Promise<number[]>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.send({ type: "encode", id, text });
    });
  }

  /** Resolves once the thread has loaded (tests); starts it if it is not running. */
  async started(): Promise<void> {
    this.start();
    while (!this.ready) {
      if (!this.worker) throw new Error("the tokenizer thread did not start");
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Ends the thread (pure JavaScript: safe to stop mid-prompt); prompts it held are encoded where they arrived. */
  async close(): Promise<void> {
    const w = this.worker;
    this.died(new ThreadGoneError("the engine is closing"));
    this.diedAt = Infinity; // never again
    await w?.terminate();
  }

  /** Test-only: makes the thread throw, as a bug in it would. */
  crash(): void {
    this.send({ type: "crash" });
  }

  private send(m: ToTokenizer): void {
    this.worker?.postMessage(m);
  }

  private start(): void {
    if (this.worker || performance.now() - this.diedAt < (this.o.restartDelayMs ?? 10_000)) return;
    const worker = new Worker(workerEntry(), { workerData: this.init });
    worker.unref(); // a pending prompt keeps nothing alive: the request that waits for it does
    this.worker = worker;
    worker.on("message", (m: FromTokenizer) => this.receive(m));
    worker.on("error", (err) => this.gone(worker, `failed: ${err.message}`));
    worker.on("exit", (code) => this.gone(worker, `stopped (exit code ${code})`));
  }

  private receive(m: FromTokenizer): void {
    if (m.type === "ready") this.ready = true;
    else if (m.type === "failed") {
      this.o.log?.(`sidecar: the tokenizer thread could not load, so long prompts are tokenized on the engine's thread: ${m.message}`);
      void this.worker?.terminate();
    } else {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (m.type === "ids") p?.resolve(m.ids);
      else p?.reject(new ThreadGoneError(`the tokenizer thread failed on a prompt: ${m.message}`));
    }
  }

  private gone(worker: Worker, why: string): void {
    if (worker !== this.worker) return;
    if (this.ready) this.o.log?.(`sidecar: the tokenizer thread ${why}; its prompts are tokenized on the engine's thread, and it starts again with a long prompt`);
    this.died(new ThreadGoneError(`the tokenizer thread ${why}`));
  }

  private died(err: ThreadGoneError): void {
    this.worker = undefined;
    this.ready = false;
    this.diedAt = performance.now();
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}
