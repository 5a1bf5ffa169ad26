/**
 * The Wilson score interval for a binomial proportion (Wilson 1927): the
 * interval of p whose normal-approximation test does not reject k successes
 * in n trials, at z (1.96 for 95%). Unlike the Wald interval it stays inside
 * [0, 1] and is sensible at k = 0 and k = n.
 *
 *   centre = (p + z^2/2n) / (1 + z^2/n)
 *   half   = z / (1 + z^2/n) * sqrt(p(1-p)/n + z^2/4n^2)
 */
export interface Interval {
  lo: number;
  hi: number;
}

export const Z95 = 1.959963984540054;

export function wilson(k: number, n: number, z = Z95): Interval {
  if (!(n > 0)) return { lo: 0, hi: 1 };
  if (k < 0 || k > n) throw new RangeError(`wilson: k=${k} outside [0, ${n}]`);
  const p = k / n;
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / denom;
  const half = (z / denom) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  // Exact ends at k = 0 and k = n (the formula gives them up to rounding).
  return { lo: k === 0 ? 0 : Math.max(0, centre - half), hi: k === n ? 1 : Math.min(1, centre + half) };
}
