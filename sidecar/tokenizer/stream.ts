/**
 * Incremental detokenizer: feed ids one at a time, get text deltas. Bytes of
 * an unfinished UTF-8 character are held back until the character completes
 * (or until flush(), where a truncated one becomes U+FFFD), and the space
 * after BOS is stripped as decode() does, so the concatenated deltas plus
 * flush() equal tokenizer.decode(ids).
 */
import { bytesAfter } from "./bytes.ts";
import type { Tokenizer } from "./types.ts";

export class TextStreamDecoder {
  private readonly tok: Tokenizer;
  private decoder = new TextDecoder("utf-8");
  private prev: number | undefined;

  constructor(tok: Tokenizer) {
    this.tok = tok;
  }

  /** Add one token; returns the text that is now complete (often "", never half a character). */
  push(id: number): string {
    const bytes = bytesAfter(this.tok, this.prev, id);
    this.prev = id;
    return this.decoder.decode(bytes, { stream: true });
  }

  /** Add several tokens; returns their combined delta. */
  pushAll(ids: Iterable<number>): string {
    let out = "";
    for (const id of ids) out += this.push(id);
    return out;
  }

  /** End of stream: whatever is held back (an incomplete character decodes to U+FFFD). Resets the decoder. */
  flush(): string {
    const rest = this.decoder.decode();
    this.decoder = new TextDecoder("utf-8");
    this.prev = undefined;
    return rest;
  }
}
