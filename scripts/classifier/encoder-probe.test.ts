import { describe, expect, it } from "vitest";
import { chooseBand, chooseThreshold, thresholdForRecall, classSourceWeights, fitLogistic, fitMlp, gateFlags, standardisation, type GateExample, type ProbeExample } from "./encoder-probe.ts";
import { mulberry32 } from "./train-lib.ts";
import { ProbeHead } from "../../edge/risk/probe-head.ts";

/** Two Gaussian clouds in 8 dimensions, means +-0.8 along a fixed direction. */
function synthetic(n: number, seed: number): ProbeExample[] {
  const rng = mulberry32(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(rng() + 1e-12)) * Math.cos(2 * Math.PI * rng());
  const dir = [1, -1, 0.5, 0, 0, 0.25, 0, -0.5];
  return Array.from({ length: n }, (_, i) => {
    const y = (i % 2) as 0 | 1;
    return { e: dir.map((d) => gauss() + (y ? 0.8 : -0.8) * d), y, weight: 1 };
  });
}

const loss = (xs: ProbeExample[], w: number[], b: number, l2: number) =>
  xs.reduce((a, x) => {
    const z = x.e.length ? Array.from(x.e).reduce((s, v, i) => s + v * w[i]!, b) : b;
    return a + Math.log1p(Math.exp(x.y ? -z : z));
  }, 0) / xs.length + (l2 / 2) * w.reduce((s, v) => s + v * v, 0);

describe("encoder probe: logistic regression", () => {
  const xs = synthetic(2000, 1);
  const fit = fitLogistic(xs, 8, { hidden: 0, l2: 0, lr: 0.01, epochs: 60, batch: 32, seed: 3 });

  it("separates the classes along the true direction", () => {
    const acc = xs.filter((x) => (Array.from(x.e).reduce((s, v, i) => s + v * fit.w[i]!, fit.b) >= 0 ? 1 : 0) === x.y).length / xs.length;
    expect(acc).toBeGreaterThan(0.85);
    expect(fit.w[0]).toBeGreaterThan(0);
    expect(fit.w[1]).toBeLessThan(0);
  });

  it("reaches a minimum of the log loss: no random nudge lowers it", () => {
    const at = loss(xs, fit.w, fit.b, 0);
    const rng = mulberry32(9);
    for (let k = 0; k < 20; k++) {
      const w = fit.w.map((v) => v + 0.05 * (rng() - 0.5));
      expect(loss(xs, w, fit.b + 0.05 * (rng() - 0.5), 0)).toBeGreaterThan(at - 1e-4);
    }
  });
});

describe("encoder probe: weights, standardisation, band, threshold", () => {
  it("gives both classes the same total weight and a big source less per example", () => {
    const items = [...Array(90).fill({ y: 0, source: "a" }), ...Array(10).fill({ y: 0, source: "b" }), ...Array(20).fill({ y: 1, source: "c" })];
    const w = classSourceWeights(items);
    const total = (y: number) => w.filter((_, i) => items[i].y === y).reduce((a, b) => a + b, 0);
    expect(total(0)).toBeCloseTo(total(1), 9);
    expect(w.reduce((a, b) => a + b, 0) / w.length).toBeCloseTo(1, 9);
    expect(w[0]).toBeLessThan(w[95]!);
  });

  it("standardises over finite values", () => {
    expect(standardisation([1, 3, -Infinity])).toEqual({ mean: 2, sd: 1 });
  });

  it("puts at most `miss` of the harmful below the band and of the benign above it", () => {
    const harmful = Array.from({ length: 100 }, (_, i) => 0.3 + i / 200);
    const benign = Array.from({ length: 100 }, (_, i) => i / 150);
    const band = chooseBand(harmful, benign, 0.05);
    expect(harmful.filter((r) => r < band.lo).length).toBeLessThanOrEqual(5);
    expect(benign.filter((r) => r >= band.hi).length).toBeLessThanOrEqual(5);
    expect(band.lo).toBeLessThan(band.hi);
  });

  it("picks the lowest combined threshold whose gate FPR on the pool is at most the target", () => {
    const rng = mulberry32(5);
    const xs: GateExample[] = Array.from({ length: 1000 }, (_, i) => ({ y: (i % 4 === 0 ? 1 : 0) as 0 | 1, risk: rng(), z: rng() * 4 - 2, pool: i % 3 !== 0 }));
    const band = { lo: 0.2, hi: 0.8 };
    const fpr = (t: number) => {
      const pool = xs.filter((x) => x.pool && x.y === 0);
      return pool.filter((x) => gateFlags(x, band, 0.5, t)).length / pool.length;
    };
    const t = chooseThreshold(xs, band, 0.5, 0.3);
    expect(fpr(t)).toBeLessThanOrEqual(0.3);
    expect(fpr(t - 1e-6)).toBeGreaterThan(0.3); // lowest: any lower threshold flags one more pool prompt
  });

  it("picks the highest combined threshold whose gate recall is at least the target", () => {
    const rng = mulberry32(6);
    const pos: GateExample[] = Array.from({ length: 500 }, () => ({ y: 1, risk: rng(), z: rng() * 4 - 2, pool: false }));
    const band = { lo: 0.2, hi: 0.8 };
    const recall = (t: number) => pos.filter((x) => gateFlags(x, band, 0.5, t)).length / pos.length;
    const t = thresholdForRecall(pos, band, 0.5, 0.6);
    expect(recall(t)).toBeGreaterThanOrEqual(0.6);
    expect(recall(t + 1e-6)).toBeLessThan(0.6); // highest: any higher threshold misses one more
  });

  it("the gate: outside the band the first stage decides, inside the combined score", () => {
    const band = { lo: 0.2, hi: 0.8 };
    expect(gateFlags({ y: 0, risk: 0.9, z: -5, pool: true }, band, 0.5, 0)).toBe(true);
    expect(gateFlags({ y: 0, risk: 0.1, z: 5, pool: true }, band, 0.5, 0)).toBe(false);
    expect(gateFlags({ y: 0, risk: 0.7, z: -1, pool: true }, band, 0.5, 0)).toBe(false);
    expect(gateFlags({ y: 0, risk: 0.3, z: 1, pool: true }, band, 0.5, 0)).toBe(true);
  });
});

describe("encoder probe: one hidden layer", () => {
  // XOR in the first two dimensions: no linear probe separates it.
  const rng = mulberry32(5);
  const xs: ProbeExample[] = Array.from({ length: 2000 }, () => {
    const e = Array.from({ length: 6 }, () => rng() * 2 - 1);
    return { e, y: (e[0]! * e[1]! > 0 ? 1 : 0) as 0 | 1, weight: 1 };
  });
  const opts = { hidden: 16, l2: 0, lr: 0.01, epochs: 40, batch: 32, seed: 3 };
  const accuracy = (logit: (e: number[]) => number) => xs.filter((x) => (logit(Array.from(x.e)) >= 0 ? 1 : 0) === x.y).length / xs.length;

  it("learns what a linear probe cannot, and the edge's head scores it from the written weights", () => {
    const lin = fitLogistic(xs, 6, { ...opts, hidden: 0 });
    expect(accuracy((e) => e.reduce((z, v, i) => z + v * lin.w[i]!, lin.b))).toBeLessThan(0.65);
    const head = new ProbeHead(fitMlp(xs, 6, opts));
    expect(head.dim).toBe(6);
    expect(accuracy((e) => head.logit(e))).toBeGreaterThan(0.9);
  });

  it("is deterministic for a seed", () => {
    const small = { ...opts, epochs: 2 };
    expect(fitMlp(xs, 6, small)).toEqual(fitMlp(xs, 6, small));
    expect(fitMlp(xs, 6, { ...small, seed: 4 })).not.toEqual(fitMlp(xs, 6, small));
  });
});
