/**
 * The edge's own admission limit: at most `limit` sidecar calls in flight
 * (config `sidecar.max_inflight`, 0 = no limit). Past it a request is shed at
 * once, without a gRPC call, with a retry-after from the same rule the
 * sidecar uses (sidecar/engine/load.ts): the calls waiting beyond the limit
 * times the recent mean call time over the calls served at once, rounded up
 * to whole seconds, at least 1 s.
 */
export class Admission {
  private inflight = 0;
  private meanMs: number | undefined;

  constructor(
    readonly limit: number,
    private readonly alpha = 0.1,
  ) {}

  get size(): number {
    return this.inflight;
  }

  /** True when the limit is on and reached. */
  get full(): boolean {
    return this.limit > 0 && this.inflight >= this.limit;
  }

  /** Takes a slot; false (and nothing taken) when full. */
  tryEnter(): boolean {
    if (this.full) return false;
    this.inflight++;
    return true;
  }

  /** Gives a slot back; `durationMs` is how long the call took (null: not a served call, e.g. it failed). */
  leave(durationMs: number | null): void {
    this.inflight = Math.max(0, this.inflight - 1);
    if (durationMs === null || !Number.isFinite(durationMs) || durationMs < 0) return;
    this.meanMs = this.meanMs === undefined ? durationMs : this.meanMs + this.alpha * (durationMs - this.meanMs);
  }

  /** Mean duration of recent calls (null before the first). */
  get meanCallMs(): number | null {
    return this.meanMs ?? null;
  }

  /** Seconds a shed request should wait: null before any call finished (the caller picks a default). */
  retryAfterS(): number | null {
    if (this.meanMs === undefined) return null;
    const waiting = Math.max(1, this.inflight - Math.max(1, this.limit) + 1);
    return retryAfterSeconds(waiting, this.meanMs, Math.max(1, this.limit));
  }
}

/** queued x meanMs / rows, in whole seconds, at least 1. */
export function retryAfterSeconds(queued: number, meanMs: number, rows: number): number {
  return Math.max(1, Math.ceil((Math.max(1, queued) * Math.max(0, meanMs)) / Math.max(1, rows) / 1000));
}
