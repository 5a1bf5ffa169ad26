import type { LogitsProcessor } from "./processor.ts";
import { keepLargest, nthLargest } from "./select.ts";

/**
 * Keeps the k largest logits and sets the rest to -Infinity. When several
 * tokens tie at the k-th value, the lowest token ids are kept, so exactly k
 * tokens survive (when k >= V nothing changes). O(V) per row via quickselect.
 */
export class TopKProcessor implements LogitsProcessor {
  constructor(readonly k: number) {
    if (!Number.isSafeInteger(k) || k < 1) {
      throw new RangeError(`top-k must be an integer >= 1, got ${k}`);
    }
  }

  process(logits: Float32Array): Float32Array {
    if (this.k >= logits.length) return logits;
    return keepLargest(logits, this.k, nthLargest(logits, this.k));
  }
}
