/**
 * The key/value cache of the running batch for graphs built with fused
 * attention (`build-model --attention gqa`: onnxruntime's GroupQueryAttention,
 * sidecar/model/graph/llama-graph.ts). Same role as kv-cache.ts, another layout:
 *
 * Per layer one buffer [rows, nKv, capacity, headDim]. Row b's L_b cached
 * positions are LEFT-aligned (columns 0 .. L_b - 1); the columns after them
 * are unused. GroupQueryAttention takes each row's length (seqlens_k) instead
 * of a mask, so rows of different lengths need no padding and a row's
 * position p is always column p.
 *
 * The graph reads the cache where it is (onnxruntime-node does not copy
 * inputs) and returns only the step's new keys and values, which advance()
 * writes after each row's last position: a step moves O(new tokens) here,
 * however long the rows are. Rows move only when the membership changes (a
 * row joins: its cache is copied in; rows leave: the ones after them move
 * up) or when a row outgrows the capacity (then every row is copied into
 * buffers GROWTH times larger). The capacity shrinks when the longest row
 * fits in a quarter of it, so one long row that left does not keep its
 * memory, nor its cost: the kernel clears [B, nKv, capacity, headDim] of its
 * own per step and layer.
 *
 * Prefill rows (batch 1, decoder.ts prefillChunk) use the same layout per row
 * (RowCache with capacity >= length, kv-cache.ts): rowWithRoom / appendToRow.
 */
import { BufferPool, MAX_SLACK } from "./buffer-pool.ts";
import type { KvCache, RowCache } from "./kv-cache.ts";
import type { CacheDims } from "./row-buffers.ts";

/** Capacity grows to this much more than needed, so a growing row relayouts rarely. */
const GROWTH = 1.25;
/** Capacities are multiples of this many positions. */
const GRAIN = 32;
/** A prefill row's capacity at least doubles when a chunk does not fit. */
const ROW_GROWTH = 2;

/** The capacity to allocate for rows of up to `need` positions. */
export function capacityFor(need: number, growth = GROWTH): number {
  return Math.max(GRAIN, Math.ceil((need * growth) / GRAIN) * GRAIN);
}

/** seqlens_k (each row's length after the step, minus 1) and total_sequence_length for a step of S new tokens per row. */
export function gqaLengths(rowLengths: ArrayLike<number>, S: number): { seqlensK: Int32Array; total: number } {
  const seqlensK = Int32Array.from(rowLengths, (L) => L + S - 1);
  let total = 0;
  for (let b = 0; b < rowLengths.length; b++) total = Math.max(total, rowLengths[b]! + S);
  return { seqlensK, total };
}

/** The most rows a batch cache of up to `maxBatch` rows holds room for (GqaKvCache.add: a power of two). */
export function largestBatchRows(maxBatch: number): number {
  return 2 ** Math.ceil(Math.log2(maxBatch));
}

/** The most row-positions a batch cache of up to `maxBatch` rows asks for: that many rows, each of capacityFor(the full context). */
function largestBatchPositions(maxBatch: number, contextLength: number): number {
  return largestBatchRows(maxBatch) * capacityFor(contextLength + 1);
}

/** Bytes of keys and values of every layer over `positions` row-positions. */
function kvBytes(dims: CacheDims, positions: number): number {
  return 2 * dims.nLayers * dims.nKvHeads * positions * dims.headDim * 4;
}

/** Whether reserveGqaCache, given `budget` bytes, reserves the largest batch cache (its first size). */
export function reservesLargestBatch(dims: CacheDims & { contextLength: number }, maxBatch: number, budget: number): boolean {
  return kvBytes(dims, largestBatchPositions(maxBatch, dims.contextLength)) <= budget;
}

/**
 * Prefaults (buffer-pool.ts), within `budget` bytes, what the first long rows
 * take from the pool, so that they find it mapped (--cache-reserve-mb): keys
 * and values of every layer for batch caches of the most row-positions a
 * batch of `maxBatch` rows can ask for (rows rounded up to a power of two,
 * each of capacityFor(the full context)) and of MAX_SLACK and MAX_SLACK^2
 * times fewer (pool.take serves a need of up to MAX_SLACK times less from a
 * buffer, so the three serve any batch of a quarter-full-context row or
 * more), then one prompt of the full context being prefilled (row-buffers.ts:
 * one set). Each size is reserved whole or not at all, largest first. Returns
 * the bytes reserved. For random-100m at 8 rows: 719 MB.
 */
export function reserveGqaCache(pool: BufferPool, dims: CacheDims & { contextLength: number }, maxBatch: number, budget: number): number {
  const { nLayers, nKvHeads: H, headDim: D, contextLength } = dims;
  const most = largestBatchPositions(maxBatch, contextLength);
  const positions = [most, most / MAX_SLACK, most / MAX_SLACK ** 2, contextLength].map(Math.ceil);
  let bytes = 0;
  for (const n of positions) {
    if (bytes + kvBytes(dims, n) <= budget) bytes += pool.prefault(2 * nLayers, H * n * D);
  }
  return bytes;
}

export class GqaKvCache implements KvCache {
  /** Per layer [rowsCapacity, nKv, capacity, headDim]. */
  private keys: Float32Array[];
  private values: Float32Array[];
  private lengths: number[] = [];
  private rowsCapacity = 0;
  private capacity = 0;

  constructor(
    readonly nLayers: number,
    readonly nKvHeads: number,
    readonly headDim: number,
    /** Where buffers come from and go back to (buffer-pool.ts). */
    private readonly pool = new BufferPool(),
  ) {
    this.keys = Array.from({ length: nLayers }, () => new Float32Array(0));
    this.values = Array.from({ length: nLayers }, () => new Float32Array(0));
  }

  get batch(): number {
    return this.lengths.length;
  }

  /** Columns per row of the past arrays: their capacity (rows are left-aligned in it). */
  get pastLength(): number {
    return this.capacity;
  }

  /** How many positions row `b` has cached (its next rotary position, and its length for seqlens_k). */
  rowLength(b: number): number {
    return this.lengths[b]!;
  }

  /** Per layer, the cache of the batch's rows: [B, nKv, capacity, headDim] views (no copy). */
  pastKeys(): Float32Array[] {
    return this.keys.map((k) => k.subarray(0, this.rowFloats * this.batch));
  }

  pastValues(): Float32Array[] {
    return this.values.map((v) => v.subarray(0, this.rowFloats * this.batch));
  }

  /** Fused-attention graphs take no attention mask: an empty one. */
  stepMask(): BigInt64Array {
    return new BigInt64Array(0);
  }

  /** The graph returns only the new keys and values: nothing to preallocate. */
  presentBuffers(): undefined {
    return undefined;
  }

  /** Adds a row at the end of the batch. */
  add(row: RowCache): void {
    const B = this.batch;
    if (B + 1 > this.rowsCapacity || row.length > this.capacity) {
      this.relayout(Math.max(this.rowsCapacity, largestBatchRows(B + 1)), Math.max(this.capacity, capacityFor(row.length + 1)));
    }
    const { nKvHeads: H, headDim: D } = this;
    for (let l = 0; l < this.nLayers; l++) {
      for (const [dest, src] of [[this.keys[l]!, row.keys[l]!], [this.values[l]!, row.values[l]!]] as const) {
        const stride = src.length / (H * D);
        for (let h = 0; h < H; h++) dest.set(src.subarray(h * stride * D, (h * stride + row.length) * D), ((B * H + h) * this.capacity) * D);
      }
    }
    this.lengths.push(row.length);
  }

  /** Removes the given rows; the others keep their order (each moves up over the gaps). */
  remove(rows: Iterable<number>): void {
    const gone = new Set(rows);
    if (gone.size === 0) return;
    const keep = this.lengths.map((_, b) => b).filter((b) => !gone.has(b));
    const { nKvHeads: H, headDim: D, capacity: C } = this;
    keep.forEach((from, to) => {
      if (from === to) return;
      // to < from: copying in increasing row order never overwrites a row still to move.
      for (const buf of [...this.keys, ...this.values]) {
        for (let h = 0; h < H; h++) buf.copyWithin(((to * H + h) * C) * D, ((from * H + h) * C) * D, ((from * H + h) * C + this.lengths[from]!) * D);
      }
    });
    this.lengths = keep.map((b) => this.lengths[b]!);
    const longest = Math.max(0, ...this.lengths);
    if (this.batch === 0) this.relayout(0, 0);
    else if (capacityFor(longest + 1) * 4 <= this.capacity || this.batch * 4 <= this.rowsCapacity) {
      this.relayout(Math.min(this.rowsCapacity, 2 ** Math.ceil(Math.log2(this.batch))), Math.min(this.capacity, capacityFor(longest + 1)));
    }
  }

  /**
   * Writes a step's new keys and values (per layer [B, n, nKv * headDim], the
   * graph's new_key_values outputs) after each row's positions.
   */
  advance(newKeys: Float32Array[], newValues: Float32Array[], newTokens = 1): void {
    const { nKvHeads: H, headDim: D, batch: B } = this;
    const n = newTokens;
    if (newKeys[0]!.length !== B * n * H * D) throw new Error(`new keys have ${newKeys[0]!.length} values, expected ${B * n * H * D}`);
    const longest = Math.max(0, ...this.lengths);
    if (longest + n > this.capacity) this.relayout(this.rowsCapacity, capacityFor(longest + n));
    const C = this.capacity;
    for (let l = 0; l < this.nLayers; l++) {
      for (const [dest, src] of [[this.keys[l]!, newKeys[l]!], [this.values[l]!, newValues[l]!]] as const) {
        for (let b = 0; b < B; b++) {
          const L = this.lengths[b]!;
          for (let s = 0; s < n; s++) {
            for (let h = 0; h < H; h++) {
              const from = ((b * n + s) * H + h) * D;
              dest.set(src.subarray(from, from + D), ((b * H + h) * C + L + s) * D);
            }
          }
        }
      }
    }
    for (let b = 0; b < B; b++) this.lengths[b]! += n;
  }

  /** Row `b`'s positions, per layer [nKv, length, headDim] (a copy). */
  row(b: number): RowCache {
    const { nKvHeads: H, headDim: D, capacity: C } = this;
    const length = this.lengths[b]!;
    const take = (arrays: Float32Array[]) =>
      arrays.map((src) => {
        const out = new Float32Array(H * length * D);
        for (let h = 0; h < H; h++) out.set(src.subarray(((b * H + h) * C) * D, ((b * H + h) * C + length) * D), h * length * D);
        return out;
      });
    return { length, keys: take(this.keys), values: take(this.values) };
  }

  private get rowFloats(): number {
    return this.nKvHeads * this.capacity * this.headDim;
  }

  /**
   * Copies every row into other buffers (from the pool) of `rowsCapacity` rows
   * of `capacity` positions; the old ones go back to the pool. Columns past a
   * row's length may hold old values: seqlens_k keeps the kernel from reading them.
   */
  private relayout(rowsCapacity: number, capacity: number): void {
    const { nKvHeads: H, headDim: D, capacity: C } = this;
    const move = (old: Float32Array) => {
      const n = rowsCapacity * H * capacity * D;
      const next = n === 0 ? new Float32Array(0) : this.pool.take(n);
      this.lengths.forEach((L, b) => {
        for (let h = 0; h < H; h++) next.set(old.subarray(((b * H + h) * C) * D, ((b * H + h) * C + L) * D), ((b * H + h) * capacity) * D);
      });
      this.pool.give(old);
      return next;
    };
    this.keys = this.keys.map(move);
    this.values = this.values.map(move);
    this.rowsCapacity = rowsCapacity;
    this.capacity = capacity;
  }
}

/**
 * A prefill row's cache with room for `need` positions: `row` itself when it
 * has the room, else its positions copied into arrays of at least twice its
 * capacity (a new, empty row when `row` is undefined). Per layer [nKv,
 * capacity, headDim].
 */
export function rowWithRoom(row: RowCache | undefined, need: number, nLayers: number, H: number, D: number): RowCache {
  const C = row ? row.keys[0]!.length / (H * D) : 0;
  if (row && C >= need) return row;
  const capacity = Math.max(capacityFor(need, 1), C * ROW_GROWTH);
  const L = row?.length ?? 0;
  const grow = (old: Float32Array | undefined) => {
    const next = new Float32Array(H * capacity * D);
    if (old) for (let h = 0; h < H; h++) next.set(old.subarray(h * C * D, (h * C + L) * D), h * capacity * D);
    return next;
  };
  return {
    length: L,
    keys: Array.from({ length: nLayers }, (_, l) => grow(row?.keys[l])),
    values: Array.from({ length: nLayers }, (_, l) => grow(row?.values[l])),
  };
}

/**
 * Writes a batch-1 step's new keys and values (per layer [1, n, nKv *
 * headDim]) after `row`'s positions, in place (rowWithRoom made the room);
 * returns the row, n positions longer.
 */
export function appendToRow(row: RowCache, newKeys: Float32Array[], newValues: Float32Array[], n: number, H: number, D: number): RowCache {
  const C = row.keys[0]!.length / (H * D);
  if (row.length + n > C) throw new Error(`a row of capacity ${C} cannot take ${n} more positions after ${row.length}`);
  for (const [dests, srcs] of [[row.keys, newKeys], [row.values, newValues]] as const) {
    dests.forEach((dest, l) => {
      const src = srcs[l]!;
      for (let s = 0; s < n; s++) {
        for (let h = 0; h < H; h++) dest.set(src.subarray((s * H + h) * D, (s * H + h + 1) * D), (h * C + row.length + s) * D);
      }
    });
  }
  return { ...row, length: row.length + n };
}
