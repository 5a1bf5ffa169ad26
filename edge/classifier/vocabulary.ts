/**
 * The embedding head's vocabulary: word hash -> row. Words are matched by the
 * featurizer's 32-bit FNV-1a hash of the normalised word (`wordHashOf`), so
 * the scorer never builds a string per word. Rows are in frequency order; on a
 * hash collision the more frequent word (inserted first) keeps the slot.
 */
import { decodeBase64 } from "./base64.ts";

export class Vocabulary {
  readonly size: number;
  /** open-addressing table of [word hash, row] pairs: one cache line per probe */
  private readonly slots: Int32Array;
  private readonly mask: number;
  private rows = new Int32Array(256);

  /** `wordHashes`: base64 of little-endian uint32 hashes, one per row. */
  constructor(wordHashes: string, size: number) {
    const bytes = decodeBase64(wordHashes);
    if (bytes.length !== size * 4) throw new Error(`vocabulary: ${bytes.length} hash bytes, expected ${size * 4}`);
    this.size = size;
    let cap = 1;
    while (cap < size * 2) cap <<= 1;
    this.mask = cap - 1;
    const slots = new Int32Array(cap * 2);
    for (let s = 0; s < cap; s++) slots[2 * s + 1] = -1;
    for (let r = 0; r < size; r++) {
      const b = r * 4;
      const h = bytes[b] | (bytes[b + 1] << 8) | (bytes[b + 2] << 16) | (bytes[b + 3] << 24);
      let s = mix(h) & this.mask;
      while (slots[2 * s + 1] !== -1 && slots[2 * s] !== h) s = (s + 1) & this.mask;
      if (slots[2 * s + 1] !== -1) continue;
      slots[2 * s] = h;
      slots[2 * s + 1] = r;
    }
    this.slots = slots;
  }

  /** Row of a word hash, or -1 when the word is not in the vocabulary. */
  rowOf(wordHash: number): number {
    const slots = this.slots;
    let s = mix(wordHash) & this.mask;
    for (;;) {
      const r = slots[2 * s + 1];
      if (r === -1 || slots[2 * s] === wordHash) return r;
      s = (s + 1) & this.mask;
    }
  }

  /** Rows of `hashes[0..n)` (-1 for unknown words) in a view valid until the next call. */
  rowsOf(hashes: Int32Array, n: number): Int32Array {
    if (this.rows.length < n) this.rows = new Int32Array(Math.max(n, this.rows.length * 2));
    for (let i = 0; i < n; i++) this.rows[i] = this.rowOf(hashes[i]);
    return this.rows.subarray(0, n);
  }
}

/** The FNV hashes are already well mixed in their high bits; spread them to the low ones. */
function mix(h: number): number {
  h ^= h >>> 16;
  return Math.imul(h, 0x45d9f3b) ^ (h >>> 13);
}
