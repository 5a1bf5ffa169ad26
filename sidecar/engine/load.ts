/**
 * The scheduler's load as a caller sees it: how many requests wait, the
 * admission limit, how long a request holds a row, and from those when a
 * refused request should come back.
 *
 * retry-after = queue depth x mean service time / batch rows: a full batch
 * finishes about `rows` requests per mean service time, so that is how long
 * the requests already waiting take to get a row. Rounded up to whole seconds
 * (HTTP's retry-after is in seconds), and at least 1 s.
 */
import type { SidecarLoad } from "../../proto/gen/steerguard/v1/sidecar.ts";

/** The wire's SidecarLoad (proto/), plus a counter the sidecar's own metrics export. */
export interface SchedulerLoad extends SidecarLoad {
  /** Requests refused because the queue was full, since the start. */
  refusedTotal: number;
}

/** Mean service time assumed before any request has finished. */
export const INITIAL_SERVICE_MS = 1_000;

/** retry-after in ms for `queueDepth` waiting requests (see the header): whole seconds, at least 1 s. */
export function retryAfterMs(queueDepth: number, meanServiceMs: number, rows: number): number {
  const ms = (Math.max(1, queueDepth) * Math.max(0, meanServiceMs)) / Math.max(1, rows);
  return Math.max(1, Math.ceil(ms / 1000)) * 1000;
}

/**
 * An exponentially weighted mean of service times: recent requests count
 * most (weight `alpha` for each new one), so the estimate follows a change in
 * load or prompt sizes within a few dozen requests.
 */
export class ServiceTimeMean {
  private value: number | undefined;
  constructor(private readonly alpha = 0.1) {}

  add(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    this.value = this.value === undefined ? ms : this.value + this.alpha * (ms - this.value);
  }

  /** The mean so far, or INITIAL_SERVICE_MS before the first sample. */
  get ms(): number {
    return this.value ?? INITIAL_SERVICE_MS;
  }
}
