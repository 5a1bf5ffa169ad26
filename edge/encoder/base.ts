/**
 * What both runtimes of the sentence encoder share (index.ts: TensorFlow.js;
 * onnx.ts: onnxruntime): reading the files and checking their SHA-256, the pieces a text is read
 * as (pieces.ts), and calls run one at a time, which bounds the CPU a burst
 * of requests takes. A runtime supplies `run`, one batch through its model.
 */
import { DEFAULT_ENCODER_DIR, readEncoderFiles, type EncoderFiles } from "./files.ts";
import { pieceIds } from "./pieces.ts";
import type { SentencePieceTokenizer } from "./tokenizer.ts";

/**
 * Reads the package's files (default: node_modules), and throws unless they
 * have the SHA-256 asked for (e.g. those a probe was fitted on).
 */
export async function readCheckedFiles(dir: string | URL = DEFAULT_ENCODER_DIR, expect: Readonly<Record<string, string>> = {}): Promise<EncoderFiles> {
  const files = await readEncoderFiles(dir);
  for (const [name, sha] of Object.entries(expect)) {
    if (files.sha256[name] !== sha) throw new Error(`encoder file ${name} differs from the one expected (SHA-256 ${sha.slice(0, 12)}…)`);
  }
  return files;
}

/** The mean call time assumed before the first call is timed (a short prompt takes ~1.5 ms, 128 pieces ~9). */
const FIRST_GUESS_MS = 5;
/** Weight of the newest call in the mean call time. */
const MEAN_WEIGHT = 0.05;

export abstract class Encoder {
  protected constructor(
    readonly tokenizer: SentencePieceTokenizer,
    /** SHA-256 of the files read, by name */
    readonly sha256: Readonly<Record<string, string>>,
  ) {}

  /** The piece ids the model reads for `text` (pieces.ts). */
  tokens(text: string): number[] {
    return pieceIds(this.tokenizer, text);
  }

  private queue: Promise<unknown> = Promise.resolve();
  private pending = 0;
  private meanMs = FIRST_GUESS_MS;

  /** 512-d embeddings (unit norm) of the texts, one batch through the model, after the calls before it. */
  embedBatch(texts: readonly string[]): Promise<Float32Array[]> {
    this.pending++;
    const run = this.queue.then(async () => {
      const t0 = performance.now();
      try {
        return texts.length === 0 ? [] : await this.run(texts.map((t) => this.tokens(t)));
      } finally {
        this.meanMs += MEAN_WEIGHT * (performance.now() - t0 - this.meanMs);
      }
    });
    this.queue = run.catch(() => undefined).finally(() => this.pending--);
    return run;
  }

  /**
   * How long a call made now would wait before its own run starts: the calls
   * queued or running, at the recent mean time of a call (an exponentially
   * weighted mean over about the last 20).
   */
  expectedWaitMs(): number {
    return this.pending * this.meanMs;
  }

  /** 512-d embedding (unit norm) of one text. */
  async embed(text: string): Promise<Float32Array> {
    return (await this.embedBatch([text]))[0]!;
  }

  /** One batch of piece id sequences through the model. */
  protected abstract run(seqs: number[][]): Promise<Float32Array[]>;
}
