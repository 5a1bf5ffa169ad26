/** Byte-level helpers shared by the tokenizers and the stream decoder. */
import type { Tokenizer } from "./types.ts";

const BYTE_TOKEN = /^<0x([0-9A-Fa-f]{2})>$/;
const SPACE = 0x20;
export const EMPTY_BYTES: Uint8Array = new Uint8Array(0);
const encoder = new TextEncoder();

/** The byte value of a sentencepiece byte-fallback piece like `<0xE2>`, else undefined. */
export function byteFallbackValue(piece: string): number | undefined {
  const m = BYTE_TOKEN.exec(piece);
  return m ? parseInt(m[1], 16) : undefined;
}

export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/**
 * The bytes token `id` adds to the output when it follows `prev`
 * (`prev` undefined = first token): `tokenBytes(id)`, minus one leading space
 * directly after BOS when the tokenizer strips it. Byte-fallback tokens keep
 * their byte (llama2.c checks the piece's first character, `<`).
 */
export function bytesAfter(tok: Tokenizer, prev: number | undefined, id: number): Uint8Array {
  const bytes = tok.tokenBytes(id);
  if (
    prev === tok.bosId &&
    tok.stripSpaceAfterBos &&
    bytes.length > 0 &&
    bytes[0] === SPACE &&
    byteFallbackValue(tok.tokenText(id)) === undefined
  ) {
    return bytes.subarray(1);
  }
  return bytes;
}

/** decode() for any Tokenizer: concatenate bytesAfter() and read as UTF-8 (invalid bytes become U+FFFD). */
export function decodeIds(tok: Tokenizer, ids: readonly number[]): string {
  const chunks: Uint8Array[] = [];
  let total = 0;
  let prev: number | undefined;
  for (const id of ids) {
    const b = bytesAfter(tok, prev, id);
    chunks.push(b);
    total += b.length;
    prev = id;
  }
  const all = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  return new TextDecoder("utf-8").decode(all);
}

export function checkId(id: number, vocabSize: number): void {
  if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
    throw new RangeError(`token id ${id} outside vocabulary [0, ${vocabSize})`);
  }
}
