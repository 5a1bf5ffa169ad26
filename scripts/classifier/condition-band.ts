/**
 * The edge's third route in classification terms: a gate risk in the band
 * [lo, hi) is decided by the model's in-model condition (the steering
 * profile's), at or above it steered, below it not. A prompt the condition
 * has no value for (one the sidecar would not prefill: over the model's
 * context) keeps the earlier stage's decision.
 *
 * The band is chosen on training-side data only (`chooseConditionBand`): of
 * the bands on a fixed grid that hold the first stage's threshold (so that
 * outside the band every decision is the first stage's own), the one that maximises the whole gate's balanced Youden J
 * (mean recall over the harmful groups minus mean false-positive rate over the
 * benign groups), among the bands whose false-positive rate on ordinary
 * benign instructions stays at most `maxFpr` (the first stage's own rule:
 * 0.02) or at most the first stage's own rate there, whichever is higher.
 * Ties go to the narrower band (fewer prompts pay the condition).
 */
import { inBand } from "../../edge/risk/second-stage.ts";

export interface Band {
  lo: number;
  hi: number;
}

/** One training-side (or held-out) example as the gate sees it. */
export interface BandExample {
  group: string;
  y: 0 | 1;
  /** The gate's risk before the condition (first stage, or first + encoder stage). */
  risk: number;
  /** Whether the condition holds; undefined when it has no value for this prompt. */
  holds?: boolean;
}

/** The whole gate's decision for one example. */
export function gateFlag(x: Pick<BandExample, "risk" | "holds">, band: Band, firstThreshold: number): boolean {
  if (!inBand(band, x.risk)) return x.risk >= band.hi;
  return x.holds ?? x.risk >= firstThreshold;
}

/** Share of `xs` the gate flags. */
export function flagRate(xs: readonly Pick<BandExample, "risk" | "holds">[], band: Band, firstThreshold: number): number {
  return xs.length ? xs.filter((x) => gateFlag(x, band, firstThreshold)).length / xs.length : 0;
}

/** The risk grid bands are drawn from (both ends), plus the first stage's threshold. */
export const BAND_GRID = [0.005, 0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99];

export interface BandChoice {
  band: Band;
  j: number;
  /** per group: the rate flagged (recall for harmful groups, FPR for benign ones) */
  rates: Record<string, number>;
  /** share of the examples in the band */
  inBand: number;
  /** the same for the first stage alone (no band) */
  baseline: { j: number; rates: Record<string, number> };
}

export interface BandOptions {
  /** the group whose false-positive rate is held */
  pool: string;
  maxFpr: number;
  firstThreshold: number;
  grid?: readonly number[];
}

function groupRates(xs: readonly BandExample[], flag: (x: BandExample) => boolean): { rates: Record<string, number>; j: number } {
  const by = new Map<string, { y: 0 | 1; k: number; n: number }>();
  for (const x of xs) {
    const g = by.get(x.group) ?? { y: x.y, k: 0, n: 0 };
    if (g.y !== x.y) throw new Error(`group ${x.group} mixes labels`);
    g.n++;
    if (flag(x)) g.k++;
    by.set(x.group, g);
  }
  const rates = Object.fromEntries([...by].map(([name, g]) => [name, g.k / g.n]));
  const mean = (y: 0 | 1) => {
    const r = [...by].filter(([, g]) => g.y === y).map(([name]) => rates[name]!);
    return r.length ? r.reduce((a, b) => a + b, 0) / r.length : 0;
  };
  return { rates, j: mean(1) - mean(0) };
}

/** The band by the rule in the module comment. */
export function chooseConditionBand(xs: readonly BandExample[], o: BandOptions): BandChoice {
  const grid = [...new Set([...(o.grid ?? BAND_GRID), o.firstThreshold])].sort((a, b) => a - b);
  const base = groupRates(xs, (x) => x.risk >= o.firstThreshold);
  const cap = Math.max(o.maxFpr, base.rates[o.pool] ?? 0);
  // The first stage alone is the band [t, t): always allowed.
  let best: BandChoice = { band: { lo: o.firstThreshold, hi: o.firstThreshold }, j: base.j, rates: base.rates, inBand: 0, baseline: base };
  const width = (b: Band) => b.hi - b.lo;
  for (const lo of grid)
    for (const hi of grid) {
      // (the band holds the first stage's threshold: outside it every decision is the first stage's own)
      if (hi <= lo || lo > o.firstThreshold || hi < o.firstThreshold) continue;
      const band = { lo, hi };
      const r = groupRates(xs, (x) => gateFlag(x, band, o.firstThreshold));
      if ((r.rates[o.pool] ?? 0) > cap + 1e-12) continue;
      if (r.j > best.j + 1e-12 || (Math.abs(r.j - best.j) <= 1e-12 && width(band) < width(best.band))) {
        best = { band, j: r.j, rates: r.rates, inBand: xs.filter((x) => inBand(band, x.risk)).length / xs.length, baseline: base };
      }
    }
  return best;
}
