/**
 * The llama2.c tokenizer (`tokenizer.bin` / `tok512.bin`), encoding and
 * decoding exactly as llama2.c's run.c does:
 * - file: int32 max_token_length, then vocabSize x (float32 score, int32 len, bytes);
 * - encode: optional BOS, a dummy-prefix " " when the text is non-empty, one
 *   token per UTF-8 codepoint (byte fallback: byte + 3 when the codepoint is
 *   not a piece), then repeatedly merge the adjacent pair whose concatenation
 *   is the highest-scoring piece (first such pair on ties; ./score-merge.ts
 *   does it in O(n log n));
 * - decode: a piece directly after BOS loses its leading space, `<0xXX>`
 *   pieces are raw bytes.
 * Differences from run.c, on purpose: BOS/EOS/unk decode to nothing (run.c
 * prints "\n</s>\n"), and text after a recognised special token (only with
 * `parseSpecial`) gets its own dummy prefix, as Hugging Face's Llama
 * tokenizer does.
 */
import { readFile } from "node:fs/promises";
import { byteFallbackValue, checkId, decodeIds, EMPTY_BYTES, utf8 } from "./bytes.ts";
import { mergeByScore } from "./score-merge.ts";
import { splitSpecial } from "./special-split.ts";
import type { EncodeOptions, EncodePart, Tokenizer } from "./types.ts";

export interface Llama2cVocab {
  maxTokenLength: number;
  /** Piece bytes, as binary strings (one char per byte: exact byte semantics for lookups). */
  pieces: string[];
  scores: Float32Array;
}

/**
 * Parse the first `vocabSize` entries of a llama2.c tokenizer file (the
 * model's vocab size, as run.c does); without it, every entry up to the end.
 */
export function parseLlama2cVocab(data: Uint8Array, vocabSize?: number): Llama2cVocab {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const need = (at: number, n: number) => {
    if (at + n > data.byteLength) {
      throw new Error(`llama2.c tokenizer file too short: ${vocabSize ?? "whole"} entries expected, the file ends at byte ${data.byteLength}`);
    }
  };
  need(0, 4);
  const maxTokenLength = view.getInt32(0, true);
  const pieces: string[] = [];
  const scores: number[] = [];
  let at = 4;
  for (let i = 0; vocabSize === undefined ? at < data.byteLength : i < vocabSize; i++) {
    need(at, 8);
    scores.push(view.getFloat32(at, true));
    const len = view.getInt32(at + 4, true);
    at += 8;
    if (len < 0) throw new Error(`llama2.c tokenizer: negative length for token ${i}`);
    need(at, len);
    pieces.push(binaryString(data.subarray(at, at + len)));
    at += len;
  }
  return { maxTokenLength, pieces, scores: Float32Array.from(scores) };
}

export interface Llama2cOptions {
  bosId?: number;
  eosId?: number;
  addBos?: boolean;
}

export class Llama2cTokenizer implements Tokenizer {
  readonly kind = "llama2c" as const;
  readonly bosId: number;
  readonly eosId: number;
  readonly vocabSize: number;
  readonly addBos: boolean;
  readonly stripSpaceAfterBos = true;
  readonly specialTokens: ReadonlyMap<string, number>;
  private readonly vocab: Llama2cVocab;
  private readonly lookup = new Map<string, number>();
  /**
   * Merges as integers: canonical id (lookup's, the lowest with that piece)
   * of the left piece times vocabSize plus that of the right, to the id of
   * their concatenation, for every piece that splits into two pieces. What
   * `lookup.get(left + right)` gives, without a string per candidate pair.
   */
  private readonly pairs = new Map<number, number>();
  private readonly canonical: Int32Array;
  private readonly special = new Set<number>();
  private readonly bytes: Uint8Array[];
  private readonly texts: string[];
  /**
   * For the prompt length check (prompt-bound.ts): the encoder covers text
   * byte for byte (byte fallback), so normalization leaves every byte.
   */
  readonly textShrink = 1;
  private longest: number | undefined;

  constructor(vocab: Llama2cVocab, options: Llama2cOptions = {}) {
    this.vocab = vocab;
    this.vocabSize = vocab.pieces.length;
    this.bosId = options.bosId ?? 1;
    this.eosId = options.eosId ?? 2;
    this.addBos = options.addBos ?? true;
    // run.c's str_lookup is a bsearch over sorted pieces: the same answer as a
    // map when pieces are unique (tok512's are). With duplicates run.c's pick
    // is unspecified; we take the lowest id.
    vocab.pieces.forEach((p, id) => {
      if (!this.lookup.has(p)) this.lookup.set(p, id);
    });
    this.canonical = Int32Array.from(vocab.pieces, (p) => this.lookup.get(p)!);
    for (const [piece, id] of this.lookup) {
      for (let k = 1; k < piece.length; k++) {
        const left = this.lookup.get(piece.slice(0, k));
        const right = left === undefined ? undefined : this.lookup.get(piece.slice(k));
        if (right !== undefined) this.pairs.set(left! * this.vocabSize + right, id);
      }
    }
    for (const id of [this.bosId, this.eosId]) checkId(id, this.vocabSize);
    this.special.add(this.bosId).add(this.eosId);
    if (vocab.pieces[0] === "<unk>") this.special.add(0);
    const specials = new Map<string, number>();
    for (const id of this.special) specials.set(vocab.pieces[id].trim(), id);
    this.specialTokens = specials;
    this.bytes = vocab.pieces.map((p, id) => this.computeBytes(p, id));
    this.texts = vocab.pieces.map((p, id) => this.computeText(p, id));
  }

  static async fromFile(path: string, vocabSize: number | undefined, options: Llama2cOptions = {}): Promise<Llama2cTokenizer> {
    return new Llama2cTokenizer(parseLlama2cVocab(await readFile(path), vocabSize), options);
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    const parts = options.parseSpecial ? splitSpecial(text, this.specialTokens) : [text];
    return this.encodeParts(parts, { addBos: options.addBos });
  }

  encodeParts(parts: readonly EncodePart[], options: { addBos?: boolean } = {}): number[] {
    const out: number[] = [];
    const addBos = (options.addBos ?? this.addBos) && parts[0] !== this.bosId;
    parts.forEach((part, i) => {
      if (typeof part === "number") {
        checkId(part, this.vocabSize);
        out.push(part);
      } else if (i === 0 && addBos) {
        // run.c keeps BOS in the array while merging; do the same for exactness.
        for (const id of this.encodeText(part, [this.bosId])) out.push(id); // no spread: 300k ids overflow the stack
      } else {
        for (const id of this.encodeText(part, [])) out.push(id);
      }
    });
    if (addBos && (parts.length === 0 || typeof parts[0] === "number")) out.unshift(this.bosId);
    return out;
  }

  decode(ids: readonly number[]): string {
    return decodeIds(this, ids);
  }

  tokenBytes(id: number): Uint8Array {
    checkId(id, this.vocabSize);
    return this.bytes[id];
  }

  /** The most UTF-8 bytes of text one token covers: the longest piece (prompt-bound.ts). */
  maxTokenBytes(): number {
    this.longest ??= this.vocab.pieces.reduce((m, p) => Math.max(m, p.length), 1); // binary strings: one char per byte
    return this.longest;
  }

  tokenText(id: number): string {
    checkId(id, this.vocabSize);
    return this.texts[id];
  }

  isSpecial(id: number): boolean {
    return this.special.has(id);
  }

  /** run.c encode() without BOS/EOS handling: dummy prefix, codepoints with byte fallback, score-ordered merges. */
  private encodeText(text: string, prefix: number[]): number[] {
    const tokens = [...prefix];
    if (text.length === 0) return tokens;
    const space = this.lookup.get(" ");
    if (space === undefined) throw new Error("llama2.c tokenizer has no ' ' piece for the dummy prefix");
    tokens.push(space);
    for (const cp of text) {
      // ASCII is its own UTF-8 (binary strings: one char per byte); other code points are encoded.
      const key = cp.charCodeAt(0) < 0x80 ? cp : binaryString(utf8(cp));
      const id = this.lookup.get(key);
      if (id !== undefined) tokens.push(id);
      else for (let i = 0; i < key.length; i++) tokens.push(key.charCodeAt(i) + 3);
    }
    return this.merge(tokens);
  }

  private merge(tokens: number[]): number[] {
    const { pairs, canonical, vocabSize: V } = this;
    const scores = this.vocab.scores;
    return mergeByScore(tokens, (a, b) => pairs.get(canonical[a]! * V + canonical[b]!) ?? -1, (id) => scores[id]);
  }

  private computeBytes(piece: string, id: number): Uint8Array {
    if (this.special.has(id)) return EMPTY_BYTES;
    const b = byteFallbackValue(piece);
    if (b !== undefined) return Uint8Array.of(b);
    return Uint8Array.from(piece, (c) => c.charCodeAt(0));
  }

  private computeText(piece: string, id: number): string {
    const bytes = Uint8Array.from(piece, (c) => c.charCodeAt(0));
    const text = new TextDecoder().decode(bytes);
    return this.special.has(id) ? text.trim() : text;
  }
}

function binaryString(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}
