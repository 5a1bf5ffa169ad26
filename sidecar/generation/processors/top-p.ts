import type { LogitsProcessor } from "./processor.ts";
import { keepLargest, largestSorted, softmaxWeight } from "./select.ts";

/** How many top tokens to sort first; grown 4x while the nucleus is larger. */
const FIRST_WINDOW = 64;

/**
 * Nucleus (top-p) filtering: keeps the smallest set of most likely tokens
 * whose softmax probabilities add up to at least p, and sets the rest to
 * -Infinity. At least `minTokensToKeep` tokens (default 1) always survive, so
 * a tiny p keeps the single most likely token. p = 1 changes nothing.
 *
 * Tokens are taken in the shared order (higher logit first, lower token id on
 * ties), so the kept set is deterministic. Probabilities are computed in
 * float64 from the logits as they arrive, i.e. after any temperature.
 * Only the top of the row is sorted: 64 tokens, then 256, ... until the
 * nucleus fits, so a peaked distribution costs O(V), not O(V log V).
 */
export class TopPProcessor implements LogitsProcessor {
  constructor(
    readonly p: number,
    readonly minTokensToKeep = 1,
  ) {
    if (!Number.isFinite(p) || p < 0 || p > 1) {
      throw new RangeError(`top-p must be in [0, 1], got ${p}`);
    }
    if (!Number.isSafeInteger(minTokensToKeep) || minTokensToKeep < 1) {
      throw new RangeError(`minTokensToKeep must be an integer >= 1, got ${minTokensToKeep}`);
    }
  }

  process(logits: Float32Array): Float32Array {
    if (this.p >= 1 || logits.length <= this.minTokensToKeep) return logits;

    let max = -Infinity;
    for (let i = 0; i < logits.length; i++) {
      if (logits[i] > max) max = logits[i];
    }
    if (max === -Infinity) return logits; // everything already ruled out
    let total = 0;
    for (let i = 0; i < logits.length; i++) total += softmaxWeight(logits[i], max);

    const scratch = logits.slice();
    for (let window = Math.min(FIRST_WINDOW, logits.length); ; window = Math.min(window * 4, logits.length)) {
      const top = largestSorted(scratch, window);
      const keep = this.nucleusSize(top, max, total);
      if (keep !== undefined || window === logits.length) {
        const n = Math.max(keep ?? window, this.minTokensToKeep);
        const threshold = n <= window ? top[n - 1] : largestSorted(scratch, n)[n - 1];
        return keepLargest(logits, n, threshold);
      }
    }
  }

  /** How many of the sorted `top` values reach probability p; undefined if all fall short. */
  private nucleusSize(top: Float32Array, max: number, total: number): number | undefined {
    let cumulative = 0;
    for (let i = 0; i < top.length; i++) {
      if (top[i] === -Infinity) return i; // the rest have probability 0
      cumulative += softmaxWeight(top[i], max) / total;
      if (cumulative >= this.p) return i + 1;
    }
    return undefined;
  }
}
