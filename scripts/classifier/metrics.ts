/** Evaluation metrics for binary scores (higher = more likely positive). */

/**
 * Area under the ROC curve: the probability that a random positive scores above
 * a random negative, ties counting one half (Mann-Whitney U / (P * N)).
 */
export function auroc(positives: ArrayLike<number>, negatives: ArrayLike<number>): number {
  const P = positives.length;
  const N = negatives.length;
  if (P === 0 || N === 0) return Number.NaN;
  const all: { s: number; pos: boolean }[] = [];
  for (let i = 0; i < P; i++) all.push({ s: positives[i], pos: true });
  for (let i = 0; i < N; i++) all.push({ s: negatives[i], pos: false });
  all.sort((a, b) => a.s - b.s);
  // Sum of (mid)ranks of the positives.
  let rankSum = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j < all.length && all[j].s === all[i].s) j++;
    const midRank = (i + 1 + j) / 2; // ranks i+1 .. j
    for (let k = i; k < j; k++) if (all[k].pos) rankSum += midRank;
    i = j;
  }
  return (rankSum - (P * (P + 1)) / 2) / (P * N);
}

/** Fraction of scores >= threshold (recall on positives, FPR on negatives). */
export function rateAtOrAbove(scores: ArrayLike<number>, threshold: number): number {
  if (scores.length === 0) return Number.NaN;
  let k = 0;
  for (let i = 0; i < scores.length; i++) if (scores[i] >= threshold) k++;
  return k / scores.length;
}

/** The q-quantile (0..1) by nearest rank on a sorted copy. */
export function quantile(values: ArrayLike<number>, q: number): number {
  const a = Array.from(values).sort((x, y) => x - y);
  if (a.length === 0) return Number.NaN;
  const i = Math.min(a.length - 1, Math.max(0, Math.ceil(q * a.length) - 1));
  return a[i];
}

/**
 * The lowest threshold whose false-positive rate on `negatives` is at most
 * `maxFpr` (so recall is as high as that FPR allows). Scores are in [0, 1].
 */
export function thresholdForFpr(negatives: ArrayLike<number>, maxFpr: number): number {
  const a = Array.from(negatives).sort((x, y) => y - x); // descending
  const allowed = Math.floor(maxFpr * a.length); // at most this many negatives may be >= t
  if (allowed >= a.length) return 0;
  // t just above the (allowed+1)-th highest negative.
  const v = a[allowed];
  return Math.min(1, v + 1e-9);
}
