import { describe, expect, it } from "vitest";
import { BufferPool } from "./buffer-pool.ts";
import { appendToRow, capacityFor, GqaKvCache, gqaLengths, reserveGqaCache, rowWithRoom } from "./gqa-kv-cache.ts";
import type { RowCache } from "./kv-cache.ts";
import { RowBuffers } from "./row-buffers.ts";

const L = 2;
const H = 2;
const D = 3;

/** A value that encodes (row tag, kind, layer, head, position, dim). */
const value = (tag: number, kind: number, l: number, h: number, p: number, d: number) => tag * 100000 + kind * 10000 + l * 1000 + h * 100 + p + d / 10;

/** A row cache of `length` positions (per layer [H, length, D]). */
function tagged(tag: number, length: number): RowCache {
  const make = (kind: number) =>
    Array.from({ length: L }, (_, l) => {
      const a = new Float32Array(H * length * D);
      for (let h = 0; h < H; h++) for (let p = 0; p < length; p++) for (let d = 0; d < D; d++) a[(h * length + p) * D + d] = value(tag, kind, l, h, p, d);
      return a;
    });
  return { length, keys: make(1), values: make(2) };
}

/** A step's new keys/values for the batch: per layer [B, n, H * D], row b's position p valued as row tags[b]'s. */
function newEntries(c: GqaKvCache, tags: number[], n: number, kind: number): Float32Array[] {
  return Array.from({ length: L }, (_, l) => {
    const a = new Float32Array(c.batch * n * H * D);
    for (let b = 0; b < c.batch; b++)
      for (let s = 0; s < n; s++) for (let h = 0; h < H; h++) for (let d = 0; d < D; d++) a[((b * n + s) * H + h) * D + d] = value(tags[b]!, kind, l, h, c.rowLength(b) + s, d);
    return a;
  });
}

const advance = (c: GqaKvCache, tags: number[], n = 1) => c.advance(newEntries(c, tags, n, 1), newEntries(c, tags, n, 2), n);

describe("GqaKvCache", () => {
  it("left-aligns rows of different lengths in [B, nKv, capacity, headDim]", () => {
    const c = new GqaKvCache(L, H, D);
    c.add(tagged(1, 2));
    c.add(tagged(2, 4));
    expect(c.batch).toBe(2);
    const C = c.pastLength;
    expect(C).toBeGreaterThanOrEqual(5);
    const k = c.pastKeys()[1]!;
    expect(k.length).toBe(2 * H * C * D);
    // Row 0, layer 1, head 1: positions 0 and 1 from column 0, then unused columns.
    const base = (0 * H + 1) * C * D;
    expect(k[base]).toBeCloseTo(value(1, 1, 1, 1, 0, 0), 2);
    expect(k[base + D + 2]).toBeCloseTo(value(1, 1, 1, 1, 1, 2), 2);
    expect(k[base + 2 * D]).toBe(0);
    expect(c.stepMask().length).toBe(0);
    expect(c.presentBuffers()).toBeUndefined();
  });

  it("writes each step's new keys and values after each row's positions, in place", () => {
    const c = new GqaKvCache(L, H, D);
    c.add(tagged(1, 1));
    c.add(tagged(2, 3));
    const before = c.pastKeys()[0]!.buffer;
    for (let s = 0; s < 4; s++) advance(c, [1, 2]);
    expect(c.pastKeys()[0]!.buffer).toBe(before); // no copy while the capacity holds
    expect([c.rowLength(0), c.rowLength(1)]).toEqual([5, 7]);
    expect(c.row(0)).toEqual(tagged(1, 5));
    expect(c.row(1)).toEqual(tagged(2, 7));
    expect(() => c.advance([new Float32Array(5)], [new Float32Array(5)])).toThrow(/expected/);
  });

  it("grows the capacity when a row would outgrow it, keeping every row (multi-token steps too)", () => {
    const c = new GqaKvCache(L, H, D);
    c.add(tagged(1, 3));
    c.add(tagged(2, 30));
    const C = c.pastLength;
    while (c.rowLength(1) + 3 <= C) advance(c, [1, 2], 3);
    advance(c, [1, 2], 3);
    expect(c.pastLength).toBeGreaterThan(C);
    expect(c.pastLength % 32).toBe(0);
    expect(c.row(0)).toEqual(tagged(1, c.rowLength(0)));
    expect(c.row(1)).toEqual(tagged(2, c.rowLength(1)));
  });

  it("keeps the order of the remaining rows when rows leave, and takes joins at the end", () => {
    const c = new GqaKvCache(L, H, D);
    [tagged(1, 3), tagged(2, 1), tagged(3, 5), tagged(4, 2)].forEach((r) => c.add(r));
    c.remove([0, 2]);
    expect(c.batch).toBe(2);
    expect(c.row(0)).toEqual(tagged(2, 1));
    expect(c.row(1)).toEqual(tagged(4, 2));
    advance(c, [2, 4]);
    c.add(tagged(5, 4));
    expect(c.row(0)).toEqual(tagged(2, 2));
    expect(c.row(1)).toEqual(tagged(4, 3));
    expect(c.row(2)).toEqual(tagged(5, 4));
  });

  it("reads joining rows kept with room to grow (capacity > length)", () => {
    const c = new GqaKvCache(L, H, D);
    const compact = tagged(6, 3);
    // The same row in arrays of capacity 50; the unused columns hold NaN and must never be read.
    const roomy = (arrays: Float32Array[]) => arrays.map((a) => {
      const out = new Float32Array(H * 50 * D).fill(NaN);
      for (let h = 0; h < H; h++) out.set(a.subarray(h * 3 * D, (h + 1) * 3 * D), h * 50 * D);
      return out;
    });
    c.add({ length: 3, keys: roomy(compact.keys), values: roomy(compact.values) });
    expect(c.row(0)).toEqual(compact);
  });

  it("shrinks when the longest row leaves, and lets go of everything when the batch empties", () => {
    const c = new GqaKvCache(L, H, D);
    c.add(tagged(1, 2));
    c.add(tagged(2, 500));
    const big = c.pastLength;
    c.remove([1]);
    expect(c.pastLength).toBeLessThan(big / 4);
    expect(c.row(0)).toEqual(tagged(1, 2));
    c.remove([0]);
    expect(c.batch).toBe(0);
    expect(c.pastLength).toBe(0);
    expect(c.pastKeys()[0]!.length).toBe(0);
  });
});

describe("prefill rows", () => {
  it("grow in place while they have room, and double (copying) when a chunk does not fit", () => {
    let row = rowWithRoom(undefined, 4, L, H, D);
    const C0 = row.keys[0]!.length / (H * D);
    expect(C0).toBe(capacityFor(4, 1));
    const chunk = (from: number, n: number, kind: number) =>
      Array.from({ length: L }, (_, l) => {
        const a = new Float32Array(n * H * D);
        for (let s = 0; s < n; s++) for (let h = 0; h < H; h++) for (let d = 0; d < D; d++) a[(s * H + h) * D + d] = value(9, kind, l, h, from + s, d);
        return a;
      });
    let done = 0;
    for (const n of [4, 20, 9, 30]) {
      const before = row.keys[0];
      row = rowWithRoom(row, done + n, L, H, D);
      const C = row.keys[0]!.length / (H * D);
      if (done + n <= (before!.length / (H * D))) expect(row.keys[0]).toBe(before);
      else expect(C).toBeGreaterThanOrEqual(Math.max(done + n, (2 * before!.length) / (H * D)));
      row = appendToRow(row, chunk(done, n, 1), chunk(done, n, 2), n, H, D);
      done += n;
      expect(row.length).toBe(done);
    }
    const C = row.keys[0]!.length / (H * D);
    const compact = tagged(9, done);
    for (let l = 0; l < L; l++)
      for (let h = 0; h < H; h++) expect([...row.values[l]!.subarray(h * C * D, (h * C + done) * D)]).toEqual([...compact.values[l]!.subarray(h * done * D, (h + 1) * done * D)]);
    expect(() => appendToRow(row, chunk(done, C, 1), chunk(done, C, 2), C, H, D)).toThrow(/capacity/);
  });

  it("gqaLengths: each row's length after the step minus 1, and the longest", () => {
    expect(gqaLengths([5, 0, 9], 1)).toEqual({ seqlensK: Int32Array.from([5, 0, 9]), total: 10 });
    expect(gqaLengths([7], 4)).toEqual({ seqlensK: Int32Array.from([10]), total: 11 });
  });
});

describe("reserveGqaCache (--cache-reserve-mb with fused attention)", () => {
  const context = 256;
  const dims = { nLayers: L, nKvHeads: H, headDim: D, contextLength: context };
  /** Buffers taken afresh (not from what the pool keeps) while `run` runs. */
  const fresh = (pool: BufferPool, run: () => void) => {
    const before = pool.allocations;
    run();
    return pool.allocations - before;
  };

  it.each([1, 2, 3, 5, 7])("a long row joining %i short ones, and its prefill before that, take only reserved buffers", (short) => {
    const pool = new BufferPool();
    const reserved = reserveGqaCache(pool, dims, 8, Infinity);
    expect(reserved).toBeGreaterThan(0);
    expect(pool.bytes).toBe(reserved);
    const c = new GqaKvCache(L, H, D, pool);
    for (let i = 0; i < short; i++) c.add(tagged(i + 1, 3));
    for (let i = 0; i < 5; i++) advance(c, Array.from({ length: short }, (_, b) => b + 1));
    // The long prompt's cache while it is prefilled (row-buffers.ts), as the scheduler takes it.
    for (const length of [context - 1, context / 4]) {
      let row: RowCache | undefined;
      const buffers = new RowBuffers(pool, dims, length);
      expect(fresh(pool, () => (row = buffers.emptyRow()))).toBe(0);
      expect(row!.keys[0]!.length).toBe(H * length * D);
      // It joins the batch: every row is copied into larger buffers, from the reserve.
      expect(fresh(pool, () => c.add(tagged(99, length)))).toBe(0);
      expect(c.row(short)).toEqual(tagged(99, length));
      expect(c.row(0)).toEqual(tagged(1, 3 + 5));
      c.remove([short]);
      buffers.release();
    }
  });

  it("without a reserve the same join takes fresh buffers; a budget reserves whole sizes, largest first, that fit", () => {
    const pool = new BufferPool();
    const c = new GqaKvCache(L, H, D, pool);
    c.add(tagged(1, 3));
    c.add(tagged(2, 3));
    expect(fresh(pool, () => c.add(tagged(3, context - 1)))).toBe(2 * L);
    const all = reserveGqaCache(new BufferPool(), dims, 8, Infinity);
    const most = 8 * capacityFor(context + 1);
    // Keys and values of every layer: batch caches of the most row-positions, a quarter and a sixteenth of it; one full-context prompt.
    expect(all).toBe(2 * L * H * D * 4 * (most + most / 4 + most / 16 + context));
    const bytes = (positions: number) => 2 * L * H * D * 4 * positions;
    // Largest first, each size if it fits in what is left.
    expect(reserveGqaCache(new BufferPool(), dims, 8, all - 1)).toBe(all - bytes(context));
    expect(reserveGqaCache(new BufferPool(), dims, 8, bytes(most) - 1)).toBe(bytes(most / 4 + most / 16 + context));
    expect(reserveGqaCache(new BufferPool(), dims, 8, bytes(context))).toBe(bytes(most / 16));
    expect(reserveGqaCache(new BufferPool(), dims, 8, bytes(most / 16) - 1)).toBe(0);
    // Three rows at most round up to four.
    expect(reserveGqaCache(new BufferPool(), dims, 3, Infinity)).toBe(2 * L * H * D * 4 * (4 * capacityFor(context + 1) * (1 + 1 / 4 + 1 / 16) + context));
  });
});
