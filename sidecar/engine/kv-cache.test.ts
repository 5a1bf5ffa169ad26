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

describe("BatchKvCache buffers", () => {
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
