import { describe, expect, it } from "vitest";
import { BatchKvCache, type RowCache } from "./kv-cache.ts";

const L = 2;
const H = 2;
const D = 3;

/** A row cache whose every value encodes (row tag, layer, head, position, dim). */
function tagged(tag: number, length: number): RowCache {
  const make = (kind: number) =>
    Array.from({ length: L }, (_, l) => {
      const a = new Float32Array(H * length * D);
      for (let h = 0; h < H; h++)
        for (let p = 0; p < length; p++) for (let d = 0; d < D; d++) a[(h * length + p) * D + d] = tag * 10000 + kind * 1000 + l * 100 + h * 10 + p + d / 10;
      return a;
    });
  return { length, keys: make(1), values: make(2) };
}

describe("BatchKvCache", () => {
  it("right-aligns rows of different lengths and masks the padding", () => {
    const c = new BatchKvCache(L, H, D);
    c.add(tagged(1, 2));
    c.add(tagged(2, 4));
    expect(c.batch).toBe(2);
    expect(c.pastLength).toBe(4);
    expect([...c.stepMask()]).toEqual([0n, 0n, 1n, 1n, 1n, 1n, 1n, 1n, 1n, 1n]);
    // Row 0, layer 1, head 1: two padding columns (zeros), then positions 0 and 1.
    const k = c.pastKeys()[1]!;
    const base = (0 * H + 1) * 4 * D;
    expect([...k.subarray(base, base + 2 * D)]).toEqual([0, 0, 0, 0, 0, 0]);
    expect(k[base + 2 * D]).toBeCloseTo(11000 + 100 + 10 + 0, 3);
    expect(k[base + 3 * D + 2]).toBeCloseTo(11000 + 100 + 10 + 1 + 0.2, 3);
  });

  it("gives each row back unchanged after joins and leaves", () => {
    const c = new BatchKvCache(L, H, D);
    const rows = [tagged(1, 3), tagged(2, 1), tagged(3, 5)];
    rows.forEach((r) => c.add(r));
    c.remove([2]);
    expect(c.pastLength).toBe(3);
    expect(c.row(0)).toEqual(rows[0]);
    expect(c.row(1)).toEqual(rows[1]);
    c.remove([0]);
    expect(c.pastLength).toBe(1);
    expect(c.row(0)).toEqual(rows[1]);
  });

  it("adopts a step's present outputs and grows every row by one", () => {
    const c = new BatchKvCache(L, H, D);
    c.add(tagged(1, 1));
    c.add(tagged(2, 2));
    const present = () => Array.from({ length: L }, () => new Float32Array(2 * H * 3 * D).fill(7));
    c.advance(present(), present());
    expect(c.pastLength).toBe(3);
    expect([c.rowLength(0), c.rowLength(1)]).toEqual([2, 3]);
    expect(() => c.advance(present(), present())).toThrow(/expected/);
  });
});

/** A stand-in for one graph step: copy the past row by row into present, then append a column of `tag`. */
function fakeStep(c: BatchKvCache, tag: number): void {
  const out = c.presentBuffers(1);
  const P = c.pastLength;
  for (const [outs, pasts] of [[out.keys, c.pastKeys()], [out.values, c.pastValues()]] as const) {
    outs.forEach((o, l) => {
      for (let r = 0; r < c.batch * H; r++) {
        o.set(pasts[l]!.subarray(r * P * D, (r + 1) * P * D), r * (P + 1) * D);
        o.fill(tag, (r * (P + 1) + P) * D, (r + 1) * (P + 1) * D);
      }
    });
  }
  c.advance(out.keys, out.values, 1);
}

/** The buffers a step touches: the one the cache is in and the one the next present goes to. */
const buffersInUse = (c: BatchKvCache) => [c.pastKeys()[0]!.buffer, c.presentBuffers(1).keys[0]!.buffer];

describe("BatchKvCache buffers", () => {
  it("reads row caches kept with room to grow (capacity > length)", () => {
    const c = new BatchKvCache(L, H, D);
    const row = tagged(4, 3);
    // The same row in arrays of capacity 5: positions 3 and 4 hold garbage that must not be read.
    const roomy = (arrays: Float32Array[]) => arrays.map((a) => {
      const out = new Float32Array(H * 5 * D).fill(NaN);
      for (let h = 0; h < H; h++) out.set(a.subarray(h * 3 * D, (h + 1) * 3 * D), h * 5 * D);
      return out;
    });
    c.add({ length: 3, keys: roomy(row.keys), values: roomy(row.values) });
    c.add(tagged(5, 1));
    expect(c.row(0)).toEqual(row);
    expect(c.row(1)).toEqual(tagged(5, 1));
  });

  it("a long row joining allocates in its own step only, and rows leaving and joining reuse the buffers", () => {
    const c = new BatchKvCache(L, H, D);
    c.add(tagged(1, 2));
    c.add(tagged(2, 3));
    for (let s = 0; s < 3; s++) fakeStep(c, 100 + s);
    const seen = new Set(buffersInUse(c));
    // A long row joins: the rebuild takes new buffers with headroom for both roles at once...
    c.add(tagged(3, 40));
    const joined = buffersInUse(c);
    expect(seen.has(joined[0]!) || seen.has(joined[1]!)).toBe(false);
    // ...so the steps after it allocate nothing (the old code allocated in each of the next two).
    for (let s = 3; s < 8; s++) {
      fakeStep(c, 100 + s);
      for (const b of buffersInUse(c)) expect(joined).toContain(b);
    }
    // The long row leaves and a short one joins: no new buffer either.
    c.remove([2]);
    c.add(tagged(4, 2));
    fakeStep(c, 108);
    for (const b of buffersInUse(c)) expect(joined).toContain(b);
    // Every row is intact: its own positions, then one column per step it took part in.
    const check = (b: number, original: RowCache, tags: number[]) => {
      const row = c.row(b);
      expect(row.length).toBe(original.length + tags.length);
      for (let h = 0; h < H; h++) {
        const at = (p: number) => (h * row.length + p) * D;
        expect([...row.keys[1]!.subarray(at(0), at(original.length))]).toEqual([...original.keys[1]!.subarray(h * original.length * D, (h + 1) * original.length * D)]);
        tags.forEach((t, i) => expect(row.values[0]![at(original.length + i)]).toBe(t));
      }
    };
    check(0, tagged(1, 2), [100, 101, 102, 103, 104, 105, 106, 107, 108]);
    check(1, tagged(2, 3), [100, 101, 102, 103, 104, 105, 106, 107, 108]);
    check(2, tagged(4, 2), [108]);
  });

  it("lets go of a long row's buffers once the batch no longer needs them", () => {
    const c = new BatchKvCache(L, H, D);
    c.add(tagged(1, 2));
    c.add(tagged(2, 200_000)); // 4.8M values per layer: past the sizes kept regardless
    fakeStep(c, 1);
    const big = buffersInUse(c);
    c.remove([1]);
    for (const b of buffersInUse(c)) expect(big).not.toContain(b);
    expect(c.pastKeys()[0]!.buffer.byteLength).toBeLessThan(1e6);
  });

  it("writes each step's present into the buffer the step did not read, and reuses it", () => {
    const c = new BatchKvCache(L, H, D);
    c.add(tagged(1, 2));
    const seen = new Set<ArrayBufferLike>();
    for (let step = 0; step < 20; step++) {
      const past = c.pastKeys()[0]!;
      const out = c.presentBuffers(1);
      expect(out.keys[0]!.length).toBe(1 * H * (c.pastLength + 1) * D);
      expect(out.keys[0]!.buffer).not.toBe(past.buffer);
      // A stand-in for the graph: copy the past row by row, then append a column of the step number.
      for (const [outs, pasts] of [[out.keys, c.pastKeys()], [out.values, c.pastValues()]] as const) {
        outs.forEach((o, l) => {
          for (let h = 0; h < H; h++) {
            o.set(pasts[l]!.subarray(h * c.pastLength * D, (h + 1) * c.pastLength * D), h * (c.pastLength + 1) * D);
            o.fill(100 + step, (h * (c.pastLength + 1) + c.pastLength) * D, (h + 1) * (c.pastLength + 1) * D);
          }
        });
      }
      c.advance(out.keys, out.values, 1);
      seen.add(c.pastKeys()[0]!.buffer);
    }
    // Two buffers take turns, growing by half again when too small: a few
    // allocations over 20 steps instead of one per step.
    expect(seen.size).toBeLessThanOrEqual(8);
    const row = c.row(0);
    const original = tagged(1, 2);
    const len = row.length;
    expect(len).toBe(22);
    for (let h = 0; h < H; h++) {
      expect([...row.keys[1]!.subarray(h * len * D, h * len * D + 2 * D)]).toEqual([...original.keys[1]!.subarray(h * 2 * D, (h + 1) * 2 * D)]);
      for (let step = 0; step < 20; step++) expect(row.values[0]![(h * len + 2 + step) * D]).toBe(100 + step);
    }
  });
});
