/**
 * Which pieces of a text the encoder reads, without loading a model: the
 * same caps as SentenceEncoder.tokens (index.ts; see its module comment),
 * kept here so that the onnxruntime encoder (onnx.ts) need not import
 * TensorFlow.js. onnx-graph.test.ts checks both give the same ids.
 */
import type { SentencePieceTokenizer } from "./tokenizer.ts";
import { readableEnds } from "./visible.ts";

export { EMBEDDING_DIM } from "./onnx/io.ts";
/** Pieces the model reads (its own clip length). */
export const MAX_TOKENS = 128;
/** Characters read from each end of a long text. */
export const HEAD_CHARS = 600;

/**
 * Which rule turns a text into the pieces read (cached embeddings are keyed by it): 2 reads the
 * visible text (visible.ts); 1 read the raw text.
 */
export const READING_RULE = 2;

/** The piece ids the model reads for `text` (its visible text, visible.ts): at most MAX_TOKENS, the first and last half of a longer text; [0] for an empty one. */
export function pieceIds(tokenizer: SentencePieceTokenizer, text: string): number[] {
  const half = MAX_TOKENS / 2;
  const t = readableEnds(text, HEAD_CHARS);
  const ids = t.length > 2 * HEAD_CHARS ? [...tokenizer.encode(t.slice(0, HEAD_CHARS)).slice(0, half), ...tokenizer.encode(t.slice(-HEAD_CHARS)).slice(-half)] : tokenizer.encode(t);
  if (ids.length <= MAX_TOKENS) return ids.length > 0 ? ids : [0]; // an empty text reads as one unknown piece
  return [...ids.slice(0, half), ...ids.slice(-half)];
}
