import { describe, expect, it } from "vitest";
import { BufferPool } from "./buffer-pool.ts";
import { RowBuffers } from "./row-buffers.ts";

const dims = { nLayers: 2, nKvHeads: 3, headDim: 4 };

describe("RowBuffers", () => {
  it("alternates two sets for plain chunks: a chunk never writes where its past is", () => {
    const pool = new BufferPool();
    const rb = new RowBuffers(pool, dims, 10);
    const first = rb.presentInto(4);
    const second = rb.presentInto(7);
    const third = rb.presentInto(10);
    expect(first.keys[0]!.length).toBe(3 * 4 * 4);
    expect(second.values[1]!.length).toBe(3 * 7 * 4);
    expect(second.keys[0]!.buffer).not.toBe(first.keys[0]!.buffer);
    expect(third.keys[0]!.buffer).toBe(first.keys[0]!.buffer);
    expect(new Set([...first.keys, ...first.values, ...second.keys, ...second.values].map((b) => b.buffer)).size).toBe(8);
    expect(() => rb.presentInto(11)).toThrow(/cannot hold 11/);
    expect(pool.allocations).toBe(8);
  });

  it("gives its buffers back, and the next prompt of that length takes them", () => {
    const pool = new BufferPool();
    const rb = new RowBuffers(pool, dims, 10);
    rb.presentInto(3);
    rb.presentInto(10);
    rb.release();
    expect(pool.bytes).toBe(8 * 3 * 10 * 4 * 4);
    const again = new RowBuffers(pool, dims, 9);
    again.presentInto(9);
    again.presentInto(9);
    expect(pool.allocations).toBe(8);
    expect(pool.reuses).toBe(8);
  });

  it("gives fused rows one set with room for the whole prompt", () => {
    const pool = new BufferPool();
    const row = new RowBuffers(pool, dims, 10).emptyRow();
    expect(row.length).toBe(0);
    expect(row.keys).toHaveLength(2);
    expect(row.keys[0]!.length / (3 * 4)).toBe(10);
    expect(pool.allocations).toBe(4);
  });
});
