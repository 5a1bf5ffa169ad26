/**
 * A weight that is read only when it is needed. The streamed build keeps a
 * multi-GB checkpoint on disk: each tensor is read from its shard, converted,
 * written into the model's external data and dropped before the next one, so
 * peak memory is about one tensor, not the whole model.
 *
 * Everything that consumes weights takes `Weight` (an array already in memory,
 * or a lazy one) and calls `loadWeight` at the last moment; `mapWeight` stacks
 * a transformation (a row slice, Gemma's 1 + w) onto a lazy weight without
 * reading it.
 */

export interface LazyTensor {
  /** Number of float32 values `load()` returns. */
  readonly length: number;
  /** Reads (and converts) the values; each call reads again, nothing is cached. */
  load(): Float32Array;
}

export type Weight = Float32Array | LazyTensor;

export function isLazy(w: Weight): w is LazyTensor {
  return !(w instanceof Float32Array);
}

/** The values of a weight (reads a lazy one now). */
export function loadWeight(w: Weight): Float32Array {
  return isLazy(w) ? w.load() : w;
}

/**
 * `f` applied to the weight's values, giving `length` values: at once for an
 * in-memory array, at load time for a lazy one.
 */
export function mapWeight(w: Weight, length: number, f: (values: Float32Array) => Float32Array): Weight {
  if (!isLazy(w)) return f(w);
  return { length, load: () => f(w.load()) };
}
