import { describe, expect, it } from "vitest";
import { ProbeHead, type ProbeWeights } from "./probe-head.ts";

/** A seeded hidden-layer probe: 5 units over 7 dimensions. */
function hiddenProbe(): { p: ProbeWeights; W: number[][] } {
  let s = 7;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
  const W = Array.from({ length: 5 }, () => Array.from({ length: 7 }, () => Math.fround(rnd())));
  const bytes = Buffer.from(new Float32Array(W.flat()).buffer);
  return { W, p: { w: [1.5, -2, 0.5, 3, -1], b: -0.25, hidden: { units: 5, W: bytes.toString("base64"), b: [0.1, -0.2, 0, 0.3, -0.05] } } };
}

describe("second stage: the probe head", () => {
  it("linear: w . e + b", () => {
    const head = new ProbeHead({ w: [2, -1, 0.5], b: 0.25 });
    expect(head.dim).toBe(3);
    expect(head.logit([1, 2, 4])).toBeCloseTo(2 - 2 + 2 + 0.25, 12);
  });

  it("one hidden layer: w . relu(W e + c) + b, against a plain computation from the same float32 weights", () => {
    const { p, W } = hiddenProbe();
    const head = new ProbeHead(p);
    expect(head.dim).toBe(7);
    let active = 0;
    for (let t = 0; t < 20; t++) {
      const e = Array.from({ length: 7 }, (_, i) => Math.sin(3 * t + i));
      const h = W.map((row, j) => Math.max(0, row.reduce((a, v, i) => a + v * e[i]!, p.hidden!.b[j]!)));
      active += h.filter((x) => x > 0).length;
      expect(head.logit(e)).toBeCloseTo(h.reduce((a, v, j) => a + v * p.w[j]!, p.b), 10);
    }
    expect(active).toBeGreaterThan(0); // the relu was both on and off
    expect(active).toBeLessThan(100);
  });

  it("rejects malformed weights and embeddings of the wrong size", () => {
    const { p } = hiddenProbe();
    expect(() => new ProbeHead({ ...p, w: [1, 2] })).toThrow(/units/);
    expect(() => new ProbeHead({ ...p, hidden: { ...p.hidden!, b: [0] } })).toThrow(/bias/);
    expect(() => new ProbeHead({ ...p, hidden: { ...p.hidden!, W: Buffer.alloc(4 * 5 * 7 - 4).toString("base64") } })).toThrow(/units x dim/);
    expect(() => new ProbeHead({ ...p, hidden: { ...p.hidden!, W: Buffer.from(new Float32Array(35).fill(NaN).buffer).toString("base64") } })).toThrow(/finite/);
    expect(() => new ProbeHead({ w: [1, Number.NaN], b: 0 })).toThrow(/finite/);
    expect(() => new ProbeHead(p).logit([1, 2, 3])).toThrow(/dimensions/);
    expect(() => new ProbeHead({ w: [1, 2], b: 0 }).logit([1])).toThrow(/dimensions/);
  });
});
