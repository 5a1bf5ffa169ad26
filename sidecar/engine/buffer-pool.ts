/**
 * Float32 buffers the engine hands back and takes again, instead of letting
 * them go and allocating new ones.
 *
 * Why: the first write to freshly allocated memory costs a page fault per
 * 4 KiB, and on the 2-core machines here that is about 13 µs a page: filling
 * a new 400 MB array takes 1.3 s, filling it again 15 ms. A 2,000-token row
 * joining the batch of random-100m needs about 440 MB of cache buffers, and
 * each prefill chunk's cache another 50 MB; allocated afresh, their faults
 * alone stopped every running stream for 1–2 s (`npm run bench:latency`,
 * README "Latency"). Buffers kept here are already mapped, so using one again
 * costs only the copy.
 *
 * take(n) gives the smallest kept buffer that holds n values and is at most
 * MAX_SLACK times larger, else a new one; give(buf) keeps a buffer no longer in
 * use, up to `capBytes` in all (beyond that it is dropped, largest first, and
 * the garbage collector frees it). A buffer's contents are whatever its last
 * user left: callers that need zeros write them.
 */

/** A kept buffer is used for a request up to this many times smaller (plus KEEP_FLOATS). */
export const MAX_SLACK = 4;
export const KEEP_FLOATS = 1 << 20;

/**
 * Whether a buffer in use can go on serving `need` values without holding on
 * to far more (small needs may keep up to KEEP_FLOATS more; the pool's take()
 * is stricter, so small requests do not take the large kept buffers).
 */
export function fits(buffer: Float32Array | null | undefined, need: number): buffer is Float32Array {
  return buffer != null && buffer.length >= need && buffer.length <= need * MAX_SLACK + KEEP_FLOATS;
}

/** The default cap: 1 GiB of kept buffers. */
export const DEFAULT_POOL_BYTES = 1 << 30;

export class BufferPool {
  /** Kept buffers, shortest first. */
  private readonly kept: Float32Array[] = [];
  private keptBytes = 0;
  /** Buffers allocated and bytes allocated since the start (a request the pool could not serve). */
  allocations = 0;
  allocatedBytes = 0;
  /** Requests served from kept buffers. */
  reuses = 0;

  constructor(private capBytes = DEFAULT_POOL_BYTES) {}

  /** Bytes held in kept buffers now. */
  get bytes(): number {
    return this.keptBytes;
  }

  /**
   * A buffer of at least `n` values: a kept one that fits, else a new one of
   * ceil(n * headroom) values (zeroed, as every new array).
   */
  take(n: number, headroom = 1): Float32Array {
    const i = this.kept.findIndex((b) => b.length >= n && b.length <= n * MAX_SLACK);
    if (i >= 0) {
      const [buf] = this.kept.splice(i, 1);
      this.keptBytes -= buf!.byteLength;
      this.reuses++;
      return buf!;
    }
    const buf = new Float32Array(Math.ceil(n * headroom));
    this.allocations++;
    this.allocatedBytes += buf.byteLength;
    return buf;
  }

  /**
   * Allocates `count` buffers of `n` values and writes every page of them now
   * (the faults are paid here, at start), then keeps them; the cap grows to
   * hold them. Returns the bytes reserved.
   */
  prefault(count: number, n: number): number {
    const bufs = Array.from({ length: count }, () => new Float32Array(n).fill(0));
    const bytes = count * n * 4;
    this.allocations += count;
    this.allocatedBytes += bytes;
    this.capBytes = Math.max(this.capBytes, this.keptBytes + bytes);
    for (const b of bufs) this.give(b);
    return bytes;
  }

  /**
   * Keeps the buffer behind `view` (what take() gave, or a view of it) for a
   * later take(). The caller must hold no other reference it still uses.
   */
  give(view: Float32Array | null | undefined): void {
    if (!view || view.buffer.byteLength === 0 || this.kept.some((b) => b.buffer === view.buffer)) return;
    const buf = new Float32Array(view.buffer);
    const at = this.kept.findIndex((b) => b.length >= buf.length);
    this.kept.splice(at < 0 ? this.kept.length : at, 0, buf);
    this.keptBytes += buf.byteLength;
    while (this.keptBytes > this.capBytes) this.keptBytes -= this.kept.pop()!.byteLength;
  }
}
