/**
 * Sentence-encoder embeddings of training and evaluation texts, cached on
 * disk (.cache/encoder-embeddings/<key>.bin) so that a retraining or a second
 * eval does not embed ~60k texts again. Keyed by the text's SHA-256 and, in
 * the file name, by the encoder's file hashes and its reading caps: another
 * encoder or cap gets another file. Records are appended after every batch,
 * so an interrupted run keeps what it embedded.
 *
 *   record = 16 bytes of SHA-256(text) + 512 float32 (little-endian)
 */
import { createHash } from "node:crypto";
import { appendFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { EMBEDDING_DIM, HEAD_CHARS, MAX_TOKENS, READING_RULE, type SentenceEncoder } from "../../edge/encoder/index.ts";

/** What the cache needs of an encoder. */
export type Embedder = Pick<SentenceEncoder, "sha256" | "embedBatch">;
import { Progress } from "../lib/progress.ts";
import { REPO_ROOT } from "./paths.ts";

const KEY_BYTES = 16;
const RECORD = KEY_BYTES + 4 * EMBEDDING_DIM;

const textKey = (text: string) => createHash("sha256").update(text).digest().subarray(0, KEY_BYTES).toString("hex");

/** The cache file's name part for an encoder: its files, its caps and its reading rule. */
export function encoderKey(sha256: Readonly<Record<string, string>>): string {
  return createHash("sha256").update(JSON.stringify({ sha256, HEAD_CHARS, MAX_TOKENS, READING_RULE })).digest("hex").slice(0, 16);
}

export class EmbeddingCache {
  private readonly map = new Map<string, Float32Array>();
  readonly path: string | undefined;

  /** `dir` undefined: memory only (tests). */
  constructor(
    private readonly encoder: Embedder,
    dir: string | undefined = join(REPO_ROOT, ".cache/encoder-embeddings"),
  ) {
    if (!dir) return;
    mkdirSync(dir, { recursive: true });
    this.path = join(dir, `${encoderKey(encoder.sha256)}.bin`);
    if (!existsSync(this.path)) return;
    const buf = readFileSync(this.path);
    const whole = buf.length - (buf.length % RECORD); // a torn last record is ignored
    for (let o = 0; o < whole; o += RECORD) {
      const key = buf.subarray(o, o + KEY_BYTES).toString("hex");
      const bytes = buf.subarray(o + KEY_BYTES, o + RECORD);
      this.map.set(key, new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)));
    }
  }

  get size(): number {
    return this.map.size;
  }

  /** Embeddings of `texts` in order, embedding (in batches, with a progress bar) those not cached. */
  async embedAll(texts: readonly string[], opts: { batch?: number; label?: string; quiet?: boolean } = {}): Promise<Float32Array[]> {
    const keys = texts.map(textKey);
    const missing = [...new Map(keys.map((k, i) => [k, texts[i]!] as const)).entries()].filter(([k]) => !this.map.has(k));
    // Similar lengths together: a batch is padded to its longest text.
    missing.sort((a, b) => a[1].length - b[1].length);
    const batch = opts.batch ?? 32;
    const bar = opts.quiet || missing.length === 0 ? undefined : new Progress({ total: missing.length, label: opts.label ?? "embed" });
    for (let i = 0; i < missing.length; i += batch) {
      const part = missing.slice(i, i + batch);
      const vecs = await this.encoder.embedBatch(part.map(([, t]) => t));
      const out = Buffer.alloc(part.length * RECORD);
      part.forEach(([k], j) => {
        this.map.set(k, vecs[j]!);
        Buffer.from(k, "hex").copy(out, j * RECORD);
        Buffer.from(vecs[j]!.buffer, vecs[j]!.byteOffset, vecs[j]!.byteLength).copy(out, j * RECORD + KEY_BYTES);
      });
      if (this.path) appendFileSync(this.path, out);
      bar?.tick(part.length);
    }
    bar?.finish();
    return keys.map((k) => this.map.get(k)!);
  }
}
