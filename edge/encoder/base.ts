/**
 * What both runtimes of the sentence encoder share (index.ts: TensorFlow.js;
 * onnx.ts: onnxruntime): the files' SHA-256 check, the pieces a text is read
 * as (pieces.ts), and calls run one at a time, which bounds the CPU a burst
 * of requests takes. A runtime supplies `run`, one batch through its model.
 */
import type { EncoderFiles } from "./files.ts";
import { pieceIds } from "./pieces.ts";
import type { SentencePieceTokenizer } from "./tokenizer.ts";

/** Throws unless the files have the SHA-256 asked for (e.g. those a probe was fitted on). */
export function checkSha256(files: Pick<EncoderFiles, "sha256">, expect: Readonly<Record<string, string>> = {}): void {
  for (const [name, sha] of Object.entries(expect)) {
    if (files.sha256[name] !== sha) throw new Error(`encoder file ${name} differs from the one expected (SHA-256 ${sha.slice(0, 12)}…)`);
  }
}

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

  /** 512-d embeddings (unit norm) of the texts, one batch through the model, after the calls before it. */
  embedBatch(texts: readonly string[]): Promise<Float32Array[]> {
    const run = this.queue.then(() => (texts.length === 0 ? [] : this.run(texts.map((t) => this.tokens(t)))));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** 512-d embedding (unit norm) of one text. */
  async embed(text: string): Promise<Float32Array> {
    return (await this.embedBatch([text]))[0]!;
  }

  /** One batch of piece id sequences through the model. */
  protected abstract run(seqs: number[][]): Promise<Float32Array[]>;
}
