/**
 * Shared selection helpers for top-k, top-p and sampling.
 *
 * Ordering rule used everywhere in generation: higher logit first, and among
 * equal logits the lower token id first. "The n largest" means the first n
 * tokens in that order, so ties are broken the same way on every run.
 * These helpers assume no NaN (the Sampler replaces NaN with -Infinity).
 */

/**
 * Rearranges `values` in place so that `values[index]` holds the value that
 * would be there if the array were sorted in DESCENDING order, every entry
 * before it is >= it and every entry after it is <= it. Returns that value.
 * Wirth's quickselect with a median-of-three pivot: O(n) on average, which
 * beats sorting a whole vocabulary when only the top few entries matter.
 */
export function selectDescending(values: Float32Array, index: number): number {
  let lo = 0;
  let hi = values.length - 1;
  while (lo < hi) {
    const pivot = medianOfThree(values[lo], values[(lo + hi) >> 1], values[hi]);
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (values[i] > pivot) i++;
      while (pivot > values[j]) j--;
      if (i <= j) {
        const tmp = values[i];
        values[i] = values[j];
        values[j] = tmp;
        i++;
        j--;
      }
    }
    if (j < index) lo = i;
    if (index < i) hi = j;
  }
  return values[index];
}

function medianOfThree(a: number, b: number, c: number): number {
  if (a > b) [a, b] = [b, a];
  if (b > c) b = c;
  return a > b ? a : b;
}

/** The n-th largest logit (n >= 1), without modifying `logits`. */
export function nthLargest(logits: Float32Array, n: number): number {
  return selectDescending(logits.slice(), n - 1);
}

/**
 * The `n` largest values of `logits` (n <= length), sorted from largest to
 * smallest. `scratch` is a copy of the logits that this call may reorder; pass
 * the same scratch again to grow n cheaply.
 */
export function largestSorted(scratch: Float32Array, n: number): Float32Array {
  if (n < scratch.length) selectDescending(scratch, n - 1);
  return scratch.slice(0, n).sort().reverse();
}

/**
 * Keeps the `n` largest logits (ties: lowest token id) and sets every other
 * entry to -Infinity, in place. `threshold` must be the n-th largest value.
 */
export function keepLargest(logits: Float32Array, n: number, threshold: number): Float32Array {
  if (n >= logits.length) return logits;
  let above = 0;
  for (let i = 0; i < logits.length; i++) {
    if (logits[i] > threshold) above++;
  }
  let tiesLeft = n - above;
  for (let i = 0; i < logits.length; i++) {
    const value = logits[i];
    if (value > threshold) continue;
    if (value === threshold && tiesLeft > 0) {
      tiesLeft--;
      continue;
    }
    logits[i] = -Infinity;
  }
  return logits;
}

/**
 * exp(value - max): the unnormalised softmax weight of `value` when `max` is
 * the row's largest logit. -Infinity (and NaN) give 0 without calling exp. If the
 * maximum is +Infinity, the +Infinity entries share all the mass equally and
 * everything else gets 0, which is the limit of the softmax.
 */
export function softmaxWeight(value: number, max: number): number {
  if (!(value > -Infinity)) return 0; // -Infinity or NaN
  if (max === Infinity) return value === Infinity ? 1 : 0;
  return Math.exp(value - max);
}
