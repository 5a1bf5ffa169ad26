/**
 * The memory behind one prompt's cache while it is prefilled (prefill.ts),
 * taken from the engine's pool (buffer-pool.ts) once, at the prompt's full
 * length, and given back when the row has joined the batch or left.
 *
 * Plain attention: a chunk's graph reads the row's cache so far (`past`) and
 * writes the cache through the chunk (`present`, [nKv, length, headDim] per
 * layer) into other memory, so two sets of buffers take turns:
 * presentInto() gives views of the set not behind the cache. Fused attention
 * (gqa-kv-cache.ts): the row grows in place, in one set (emptyRow()).
 * Without this each chunk's `present` was a new array, and a 2,000-token
 * prompt of random-100m first-touched about 760 MB over its prefill.
 */
import type { BufferPool } from "./buffer-pool.ts";
import type { RowCache } from "./kv-cache.ts";

export interface CacheDims {
  nLayers: number;
  nKvHeads: number;
  headDim: number;
}

type BufferSet = { keys: Float32Array[]; values: Float32Array[] };

export class RowBuffers {
  private readonly sets: BufferSet[] = [];
  /** The set `present` went into last (behind the row's cache), -1 before the first chunk. */
  private current = -1;

  constructor(
    private readonly pool: BufferPool,
    private readonly dims: CacheDims,
    /** Positions the row will hold (its prompt's length). */
    private readonly capacity: number,
  ) {}

  /**
   * Plain attention: where the next chunk writes `present`, the row's cache
   * through that chunk (`length` positions): views of the set the cache is
   * not in. After the chunk, that set is behind the cache.
   */
  presentInto(length: number): BufferSet {
    if (length > this.capacity) throw new Error(`a row of ${this.capacity} positions cannot hold ${length}`);
    this.current = this.current === 0 ? 1 : 0;
    const set = this.set(this.current);
    const n = this.dims.nKvHeads * length * this.dims.headDim;
    return { keys: set.keys.map((b) => b.subarray(0, n)), values: set.values.map((b) => b.subarray(0, n)) };
  }

  /** Fused attention: an empty row cache with room for `capacity` positions (rowWithRoom keeps it). */
  emptyRow(): RowCache {
    const set = this.set(0);
    const n = this.dims.nKvHeads * this.capacity * this.dims.headDim;
    return { length: 0, keys: set.keys.map((b) => b.subarray(0, n)), values: set.values.map((b) => b.subarray(0, n)) };
  }

  /** Gives every buffer back to the pool; the row's cache must no longer be used. */
  release(): void {
    for (const set of this.sets.splice(0)) for (const b of [...set.keys, ...set.values]) this.pool.give(b);
    this.current = -1;
  }

  private set(i: number): BufferSet {
    const { nLayers, nKvHeads: H, headDim: D } = this.dims;
    const n = H * this.capacity * D;
    return (this.sets[i] ??= {
      keys: Array.from({ length: nLayers }, () => this.pool.take(n)),
      values: Array.from({ length: nLayers }, () => this.pool.take(n)),
    });
  }
}
