import { describe, expect, it } from "vitest";
import { BufferPool, MAX_SLACK } from "./buffer-pool.ts";

describe("BufferPool", () => {
  it("gives a kept buffer back for a request it holds, the smallest that fits, and allocates otherwise", () => {
    const pool = new BufferPool();
    const big = pool.take(1000);
    const small = pool.take(100);
    expect(pool.allocations).toBe(2);
    pool.give(big);
    pool.give(small);
    expect(pool.bytes).toBe(4400);
    expect(pool.take(90).buffer).toBe(small.buffer);
    expect(pool.take(300).buffer).toBe(big.buffer);
    expect(pool.reuses).toBe(2);
    expect(pool.take(50).length).toBe(50); // nothing kept: new
    expect(pool.allocations).toBe(3);
  });

  it("does not hand a far larger buffer to a small request", () => {
    const pool = new BufferPool();
    const big = pool.take(MAX_SLACK * 100 + 1);
    pool.give(big);
    expect(pool.take(100).buffer).not.toBe(big.buffer);
    expect(pool.take(101).buffer).toBe(big.buffer);
  });

  it("keeps the whole buffer behind a view, once", () => {
    const pool = new BufferPool();
    const buf = pool.take(64, 2);
    expect(buf.length).toBe(128);
    pool.give(buf.subarray(0, 10));
    pool.give(buf);
    expect(pool.bytes).toBe(512);
    expect(pool.take(128).buffer).toBe(buf.buffer);
    expect(pool.take(128).buffer).not.toBe(buf.buffer); // kept once only
  });

  it("drops the largest kept buffers beyond its cap", () => {
    const pool = new BufferPool(4000);
    const a = pool.take(500);
    const b = pool.take(600);
    pool.give(a);
    pool.give(b); // 4,400 bytes > 4,000: b is dropped
    expect(pool.bytes).toBe(2000);
    expect(pool.take(550).buffer).not.toBe(b.buffer);
  });

  it("prefaults: buffers written now, kept beyond the cap", () => {
    const pool = new BufferPool(0);
    expect(pool.prefault(3, 1024)).toBe(3 * 4096);
    expect(pool.bytes).toBe(3 * 4096);
    const bufs = [pool.take(1024), pool.take(1024), pool.take(1024)];
    expect(pool.reuses).toBe(3);
    expect(bufs.every((b) => b.every((v) => v === 0))).toBe(true);
  });
});
