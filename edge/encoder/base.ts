/**
 * What both runtimes of the sentence encoder share (index.ts: TensorFlow.js;
 * onnx.ts: onnxruntime): reading the files and checking their SHA-256, the pieces a text is read
 * as (pieces.ts), and calls run one at a time, which bounds the CPU a burst
 * of requests takes, with single texts that wait together run as one batch.
 * A runtime supplies `run`, one batch through its model.
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

/** The time per text assumed before the first run is timed (a short prompt takes ~1.5 ms, 128 pieces ~9). */
const FIRST_GUESS_MS = 5;
/** Weight of the newest run in the mean time per text. */
const MEAN_WEIGHT = 0.05;
/** Most texts one coalesced run takes. */
export const MAX_COALESCED_TEXTS = 8;
/** Most padded pieces (texts x the longest one's pieces) one coalesced run takes. */
export const MAX_COALESCED_PIECES = 512;
/**
 * Most padded pieces per piece read in a coalesced run: a short text padded to
 * a long one's length costs about as much as the long one. A burst of 64
 * texts of 11, 64 and 128 pieces in turn ran 0.70x as fast coalesced as one
 * run each with no such limit, 0.96x at 1.5 and 1.30x at 1.2 (npm run
 * bench:encoder; same lengths alone: 2.0–2.3x at 11 pieces, 1.2x at 128).
 */
export const MAX_PADDING_RATIO = 1.2;

/** A call waiting for its run: its texts' piece ids, and where its embeddings go. */
interface Job {
  seqs: number[][];
  resolve: (v: Float32Array[]) => void;
  reject: (e: unknown) => void;
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

  private readonly jobs: Job[] = [];
  private running = false;
  /** Texts queued or in the run under way. */
  private pendingTexts = 0;
  private meanMsPerText = FIRST_GUESS_MS;
  /** Model runs so far (tests). */
  runs = 0;

  /**
   * 512-d embeddings (unit norm) of the texts, one batch through the model,
   * after the calls before it. Runs happen one at a time; single texts that
   * wait together (embed()) go through the model as one padded batch
   * (nextBatch), which serves a burst of short texts twice as fast as one run
   * each, and one of 128-piece texts 1.2x (npm run bench:encoder).
   */
  embedBatch(texts: readonly string[]): Promise<Float32Array[]> {
    if (texts.length === 0) return Promise.resolve([]);
    return new Promise<Float32Array[]>((resolve, reject) => {
      this.jobs.push({ seqs: texts.map((t) => this.tokens(t)), resolve, reject });
      this.pendingTexts += texts.length;
      if (!this.running) void this.drain();
    });
  }

  /** 512-d embedding (unit norm) of one text. */
  async embed(text: string): Promise<Float32Array> {
    return (await this.embedBatch([text]))[0]!;
  }

  /**
   * How long a call made now would wait before its own run starts: the texts
   * queued or running, at the recent mean time per text (an exponentially
   * weighted mean over about the last 20 runs).
   */
  expectedWaitMs(): number {
    return this.pendingTexts * this.meanMsPerText;
  }

  /** Runs the queued calls, one model run at a time, until none is left. */
  private async drain(): Promise<void> {
    this.running = true;
    try {
      for (let batch = this.nextBatch(); batch.length > 0; batch = this.nextBatch()) {
        const seqs = batch.flatMap((j) => j.seqs);
        const t0 = performance.now();
        try {
          const out = await this.run(seqs);
          let at = 0;
          for (const j of batch) j.resolve(out.slice(at, (at += j.seqs.length)));
        } catch (err) {
          for (const j of batch) j.reject(err);
        } finally {
          this.runs++;
          this.meanMsPerText += MEAN_WEIGHT * ((performance.now() - t0) / seqs.length - this.meanMsPerText);
          this.pendingTexts -= seqs.length;
        }
      }
    } finally {
      this.running = false;
    }
  }

  /**
   * The calls the next run takes: the first waiting call, and after a single
   * text the waiting single texts, in order, that keep the run within
   * MAX_COALESCED_TEXTS, MAX_COALESCED_PIECES and MAX_PADDING_RATIO (the
   * others wait for a later run; a call of several texts is a run of its own).
   */
  private nextBatch(): Job[] {
    const first = this.jobs.shift();
    if (!first) return [];
    const batch = [first];
    if (first.seqs.length !== 1) return batch;
    let width = first.seqs[0]!.length;
    let pieces = width;
    for (let i = 0; i < this.jobs.length && batch.length < MAX_COALESCED_TEXTS; ) {
      const seqs = this.jobs[i]!.seqs;
      const w = Math.max(width, seqs[0]?.length ?? 0);
      const padded = w * (batch.length + 1);
      if (seqs.length !== 1 || padded > MAX_COALESCED_PIECES || padded > MAX_PADDING_RATIO * (pieces + seqs[0]!.length)) {
        i++;
        continue;
      }
      width = w;
      pieces += seqs[0]!.length;
      batch.push(...this.jobs.splice(i, 1));
    }
    return batch;
  }

  /** One batch of piece id sequences through the model. */
  protected abstract run(seqs: number[][]): Promise<Float32Array[]>;
}
