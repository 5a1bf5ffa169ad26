/**
 * What the edge knows of a sidecar's queue: read from the trailers of every
 * Generate call (queue depth and limit; retry-after-ms on RESOURCE_EXHAUSTED)
 * and from the Info answer of each health round (InfoResponse.load), so that
 * /readyz can report saturation and a refused request can carry a
 * retry-after derived from the queue.
 */
import type * as grpc from "@grpc/grpc-js";
import type { SidecarLoad } from "../../proto/gen/steerguard/v1/sidecar.ts";
import { QUEUE_DEPTH, QUEUE_LIMIT, RETRY_AFTER_MS } from "../../proto/metadata.ts";

export interface EndpointLoad {
  /** Requests waiting for a batch row. */
  queueDepth: number;
  /** The sidecar's admission limit (--max-queue). */
  queueLimit: number;
  /** At or over the limit: a new request would be refused. */
  saturated: boolean;
  /** The sidecar's retry-after (ms) when it gave one. */
  retryAfterMs: number | null;
  /** When this was learned (performance.now()). */
  at: number;
}

function num(md: grpc.Metadata | undefined, key: string): number | null {
  const v = md?.get(key)[0];
  if (v === undefined) return null;
  const n = Number(typeof v === "string" ? v : v.toString());
  return Number.isFinite(n) && n >= 0 ? n : null;
}

/** The sidecar's retry-after from a call's trailers, in ms (null when absent or malformed). */
export function retryAfterFromMetadata(md: grpc.Metadata | undefined): number | null {
  return num(md, RETRY_AFTER_MS);
}

/**
 * The queue from a Generate call's trailers; `refused` when the call ended in
 * RESOURCE_EXHAUSTED (then the queue was full whatever the numbers say).
 * Null when the trailers have no queue (an older sidecar, a fake).
 */
export function loadFromMetadata(md: grpc.Metadata | undefined, refused: boolean, now = performance.now()): EndpointLoad | null {
  const queueDepth = num(md, QUEUE_DEPTH);
  const queueLimit = num(md, QUEUE_LIMIT);
  const retryAfterMs = retryAfterFromMetadata(md);
  if (queueDepth === null || queueLimit === null) {
    return refused ? { queueDepth: 0, queueLimit: 0, saturated: true, retryAfterMs, at: now } : null;
  }
  return { queueDepth, queueLimit, saturated: refused || queueDepth >= queueLimit, retryAfterMs, at: now };
}

/** The queue from an Info answer (null when the sidecar reports none). */
export function loadFromInfo(load: SidecarLoad | undefined, now = performance.now()): EndpointLoad | null {
  if (!load) return null;
  return { queueDepth: load.queueDepth, queueLimit: load.queueLimit, saturated: load.saturated, retryAfterMs: load.retryAfterMs || null, at: now };
}
