/**
 * glibc malloc settings the sidecar runs with (the environment of its
 * process: package.json's `sidecar` script, scripts/start.ts, the container
 * image). onnxruntime allocates and frees its large intermediate tensors
 * with malloc on every step; by default glibc maps those afresh and trims
 * its heap, so a batch holding a long row paid page faults in onnxruntime at
 * every new size (about 14,000 a step for the first steps after a
 * 2,000-token row joined random-100m's batch: 300 ms of a 330 ms step here,
 * at about 13 µs a fault; buffer-pool.ts does the same for the engine's own
 * buffers). Allocations up to 32 MiB (glibc's most) then come from the heap,
 * and freed heap memory stays mapped for the next step.
 */
export const MALLOC_TUNABLES = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296";

/** `env` with MALLOC_TUNABLES added to GLIBC_TUNABLES (an operator's own settings there are kept, after ours, and win). */
export function withMallocTunables(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const own = env.GLIBC_TUNABLES;
  return { ...env, GLIBC_TUNABLES: own ? `${MALLOC_TUNABLES}:${own}` : MALLOC_TUNABLES };
}

/**
 * Whether `env` (this process's, read by glibc at its start) carries
 * MALLOC_TUNABLES. The decoder then turns onnxruntime's CPU arena off for
 * fused-attention graphs (decoder.ts DecoderOptions.cpuArena).
 */
export function mallocTuned(env: NodeJS.ProcessEnv): boolean {
  return (env.GLIBC_TUNABLES ?? "").includes(MALLOC_TUNABLES);
}
