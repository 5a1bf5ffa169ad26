/**
 * gRPC metadata keys of the backpressure contract (proto/steerguard/v1/sidecar.proto,
 * Generate): the sidecar writes them into a call's trailers, the edge reads them.
 */

/** On RESOURCE_EXHAUSTED: when to try again, in ms (whole seconds, at least 1000). */
export const RETRY_AFTER_MS = "retry-after-ms";
/** Requests waiting for a batch row when the call ended (every Generate status). */
export const QUEUE_DEPTH = "steerguard-queue-depth";
/** The sidecar's admission limit: most requests that may wait (every Generate status). */
export const QUEUE_LIMIT = "steerguard-queue-limit";
