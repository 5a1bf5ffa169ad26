/**
 * The key/value cache of the running batch.
 *
 * Layout per layer: [B, nKv, P, headDim], the shape the graph takes as
 * `past_key_values.N.*`. Rows have different lengths, so each row is
 * right-aligned (left-padded): row b's L_b cached positions sit in columns
 * P - L_b .. P - 1, and the attention mask hides the padding. Rotary
 * positions come from position_ids, so padding never shifts a row's
 * positions.
 *
 * A decode step appends one column to every row, so the graph's `present`
 * outputs are adopted as-is (no copy). Only a change of membership (a row
 * joins after its prefill, or leaves) rebuilds the arrays; P then shrinks to
 * the longest remaining row.
 *
 * Buffers: a step reads the cache from one buffer and writes `present` into
 * another (`presentBuffers`), and the two swap roles after the step. Reusing
 * them keeps a large batch from allocating the whole cache every step, which
 * otherwise costs frequent full garbage collections. A membership change
 * rebuilds into the spare buffer when it is large enough, else into one from
 * the engine's pool (buffer-pool.ts) with headroom, and makes sure the other
 * buffer can take the next steps' `present` too: a long row joining costs its
 * allocations in that one step, not one exact-size array now and two grown
 * ones in the next two steps. Buffers the cache outgrows or no longer needs
 * go back to the pool, so the next long row reuses memory already mapped.
 */

import type { Manifest } from "../model/manifest.ts";
import { BufferPool, fits } from "./buffer-pool.ts";
import { GqaKvCache } from "./gqa-kv-cache.ts";

/** Buffers grow to this much more than asked, so a growing cache reallocates rarely. */
const HEADROOM = 1.5;

/** Positions per head in a row cache's layer arrays ([nKv, capacity, headDim]; capacity >= length). */
function rowCapacity(cache: RowCache, l: number, which: "keys" | "values", H: number, D: number): number {
  return cache[which][l]!.length / (H * D);
}

/**
 * One row's cache on its own, per layer [nKv, capacity, headDim] with
 * capacity = array length / (nKv * headDim) >= length: a batch-1 prefill's
 * `present` (capacity = length), or a row kept with room to grow
 * (gqa-kv-cache.ts). Positions length .. capacity - 1 are unused.
 */
export interface RowCache {
  length: number;
  keys: Float32Array[];
  values: Float32Array[];
}

/**
 * What the scheduler asks of the running batch's cache: this class for plain
 * graphs, GqaKvCache (gqa-kv-cache.ts) for fused attention. A step's inputs
 * come from pastKeys/pastValues/pastLength/stepMask/presentBuffers and the
 * rows' lengths; its key/value outputs go to advance().
 */
export interface KvCache {
  readonly batch: number;
  /** Columns per row of the past arrays. */
  readonly pastLength: number;
  rowLength(b: number): number;
  pastKeys(): Float32Array[];
  pastValues(): Float32Array[];
  stepMask(newTokens?: number): BigInt64Array;
  presentBuffers(newTokens?: number): { keys: Float32Array[]; values: Float32Array[] } | undefined;
  add(row: RowCache): void;
  remove(rows: Iterable<number>): void;
  advance(keys: Float32Array[], values: Float32Array[], newTokens?: number): void;
  row(b: number): RowCache;
}

/**
 * The batch cache a model's graph needs: left-aligned rows for fused attention
 * (manifest graph.attention "gqa"), else right-aligned. Buffers come from and
 * go back to `pool` (buffer-pool.ts).
 */
export function batchCacheFor(manifest: Manifest, pool = new BufferPool()): KvCache {
  const { nLayers, nKvHeads, headDim } = manifest.dims;
  return manifest.graph.attention === "gqa" ? new GqaKvCache(nLayers, nKvHeads, headDim, pool) : new BatchKvCache(nLayers, nKvHeads, headDim, pool);
}

type Source = { kind: "batch"; row: number } | { kind: "row"; cache: RowCache };

export class BatchKvCache implements KvCache {
  private keys: Float32Array[];
  private values: Float32Array[];
  /** Per layer, a buffer not in use by the cache (the next step's output). */
  private spareKeys: Float32Array[];
  private spareValues: Float32Array[];
  /** Per layer, the whole buffer behind keys/values when this class owns it (else null). */
  private ownKeys: Array<Float32Array | null>;
  private ownValues: Array<Float32Array | null>;
  private lengths: number[] = [];
  private P = 0;

  constructor(
    readonly nLayers: number,
    readonly nKvHeads: number,
    readonly headDim: number,
    private readonly pool = new BufferPool(),
  ) {
    this.keys = Array.from({ length: nLayers }, () => new Float32Array(0));
    this.values = Array.from({ length: nLayers }, () => new Float32Array(0));
    this.spareKeys = Array.from({ length: nLayers }, () => new Float32Array(0));
    this.spareValues = Array.from({ length: nLayers }, () => new Float32Array(0));
    this.ownKeys = new Array(nLayers).fill(null);
    this.ownValues = new Array(nLayers).fill(null);
  }

  /**
   * Buffers for the next step's `present` outputs ([B, nKv, P + newTokens,
   * headDim] per layer): views of the spare buffers, grown when too small.
   * Pass them to the step, then the step's outputs to advance().
   */
  presentBuffers(newTokens = 1): { keys: Float32Array[]; values: Float32Array[] } {
    const n = this.batch * this.nKvHeads * (this.P + newTokens) * this.headDim;
    const view = (spare: Float32Array[], l: number) => {
      if (spare[l]!.length < n) {
        this.pool.give(spare[l]);
        spare[l] = this.pool.take(n, HEADROOM);
      }
      return spare[l]!.subarray(0, n);
    };
    return {
      keys: Array.from({ length: this.nLayers }, (_, l) => view(this.spareKeys, l)),
      values: Array.from({ length: this.nLayers }, (_, l) => view(this.spareValues, l)),
    };
  }

  get batch(): number {
    return this.lengths.length;
  }

  /** Columns per row (the longest row's length). */
  get pastLength(): number {
    return this.P;
  }

  /** How many real positions row `b` has cached (its next rotary position). */
  rowLength(b: number): number {
    return this.lengths[b]!;
  }

  pastKeys(): Float32Array[] {
    return this.keys;
  }

  pastValues(): Float32Array[] {
    return this.values;
  }

  /** Adds a row at the end of the batch. */
  add(row: RowCache): void {
    const sources: Source[] = this.lengths.map((_, b) => ({ kind: "batch", row: b }));
    sources.push({ kind: "row", cache: row });
    this.rebuild(sources);
  }

  /** Removes the given rows; the others keep their order. */
  remove(rows: Iterable<number>): void {
    const gone = new Set(rows);
    if (gone.size === 0) return;
    const sources: Source[] = [];
    for (let b = 0; b < this.lengths.length; b++) if (!gone.has(b)) sources.push({ kind: "batch", row: b });
    this.rebuild(sources);
  }

  /** The attention mask for a step that adds `newTokens` to every row: [B, P + newTokens]. */
  stepMask(newTokens = 1): BigInt64Array {
    const width = this.P + newTokens;
    const mask = new BigInt64Array(this.batch * width);
    for (let b = 0; b < this.batch; b++) {
      const start = this.P - this.lengths[b]!;
      mask.fill(1n, b * width + start, (b + 1) * width);
    }
    return mask;
  }

  /** Adopts a step's `present` outputs ([B, nKv, P + n, headDim]) as the new cache. */
  advance(presentKeys: Float32Array[], presentValues: Float32Array[], newTokens = 1): void {
    const expected = this.batch * this.nKvHeads * (this.P + newTokens) * this.headDim;
    if (presentKeys[0]!.length !== expected) {
      throw new Error(`present has ${presentKeys[0]!.length} values, expected ${expected}`);
    }
    for (let l = 0; l < this.nLayers; l++) {
      swapIfSpare(presentKeys[l]!, l, this.spareKeys, this.ownKeys);
      swapIfSpare(presentValues[l]!, l, this.spareValues, this.ownValues);
    }
    this.keys = presentKeys;
    this.values = presentValues;
    this.P += newTokens;
    for (let b = 0; b < this.lengths.length; b++) this.lengths[b]! += newTokens;
  }

  /** Row `b`'s real positions, per layer [nKv, length, headDim] (a copy). */
  row(b: number): RowCache {
    const length = this.lengths[b]!;
    const take = (arrays: Float32Array[]) =>
      arrays.map((src) => {
        const out = new Float32Array(this.nKvHeads * length * this.headDim);
        for (let h = 0; h < this.nKvHeads; h++) {
          const from = ((b * this.nKvHeads + h) * this.P + (this.P - length)) * this.headDim;
          out.set(src.subarray(from, from + length * this.headDim), h * length * this.headDim);
        }
        return out;
      });
    return { length, keys: take(this.keys), values: take(this.values) };
  }

  private rebuild(sources: Source[]): void {
    const lengths = sources.map((s) => (s.kind === "batch" ? this.lengths[s.row]! : s.cache.length));
    const P = lengths.reduce((a, b) => Math.max(a, b), 0);
    const { nKvHeads: H, headDim: D } = this;
    const n = sources.length * H * P * D;
    // The next step's present holds one more column per row.
    const next = sources.length * H * (P + 1) * D;
    const copyLayer = (l: number, which: "keys" | "values", spare: Float32Array[], own: Array<Float32Array | null>) => {
      // The spare buffer never backs the cache, so it can take the rebuilt rows.
      const whole = fits(spare[l], n) ? spare[l]! : this.pool.take(n, HEADROOM);
      const dest = whole.subarray(0, n);
      sources.forEach((s, b) => {
        const len = lengths[b]!;
        for (let h = 0; h < H; h++) {
          const to = ((b * H + h) * P + (P - len)) * D;
          // Left padding: masked, but never stale (a reused buffer holds old values).
          dest.fill(0, to - (P - len) * D, to);
          if (s.kind === "batch") {
            const from = ((s.row * H + h) * this.P + (this.P - len)) * D;
            dest.set(this[which][l]!.subarray(from, from + len * D), to);
          } else {
            const stride = rowCapacity(s.cache, l, which, H, D);
            const from = h * stride * D;
            dest.set(s.cache[which][l]!.subarray(from, from + len * D), to);
          }
        }
      });
      // Free now: the buffer the cache was in, and the spare when it was not used. One becomes the
      // spare (the next step's present), grown when the next step would not fit; the rest go to the pool.
      const free = [own[l], whole === spare[l] ? null : spare[l]].filter((b): b is Float32Array => b != null && b.length > 0);
      const keep = free.find((b) => fits(b, next)) ?? this.pool.take(next, HEADROOM);
      for (const b of free) if (b !== keep) this.pool.give(b);
      spare[l] = keep;
      own[l] = whole;
      return dest;
    };
    const keys = Array.from({ length: this.nLayers }, (_, l) => copyLayer(l, "keys", this.spareKeys, this.ownKeys));
    const values = Array.from({ length: this.nLayers }, (_, l) => copyLayer(l, "values", this.spareValues, this.ownValues));
    this.keys = keys;
    this.values = values;
    this.lengths = lengths;
    this.P = P;
  }
}

/**
 * After a step: when `present` was written into layer l's spare buffer, that
 * buffer now backs the cache, and the one the step read from (if ours)
 * becomes the spare. Outputs onnxruntime allocated are simply not ours.
 */
function swapIfSpare(present: Float32Array, l: number, spare: Float32Array[], own: Array<Float32Array | null>): void {
  if (spare[l]!.length > 0 && present.buffer === spare[l]!.buffer) {
    const previous = own[l];
    own[l] = spare[l]!;
    spare[l] = previous ?? new Float32Array(0);
  } else {
    own[l] = null;
  }
}
