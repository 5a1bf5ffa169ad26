import { describe, expect, it } from "vitest";
import { TemperatureProcessor } from "./temperature.ts";

const softmax = (xs: Iterable<number>) => {
  const weights = [...xs].map(Math.exp);
  const total = weights.reduce((a, b) => a + b, 0);
  return weights.map((w) => w / total);
};

describe("TemperatureProcessor", () => {
  it("divides the max-shifted logits by the temperature", () => {
    // max 2: (x - 2) / 0.5 and (x - 2) / 2; values exact in float32.
    const half = new TemperatureProcessor(0.5).process(new Float32Array([1, 2, -3, 0.5]));
    expect([...half]).toEqual([-2, 0, -10, -3]);
    const two = new TemperatureProcessor(2).process(new Float32Array([1, 2, -3, 0.5]));
    expect([...two]).toEqual([-0.5, 0, -2.5, -0.75]);
  });

  it("gives the softmax of logits / t (the shift does not change it)", () => {
    const logits = [1, -2, 0.3];
    const out = new TemperatureProcessor(0.7).process(Float32Array.from(logits));
    // Direct: exp(x / 0.7) normalised.
    const direct = softmax(logits.map((x) => x / 0.7));
    softmax(out).forEach((p, i) => expect(p).toBeCloseTo(direct[i], 6));
  });

  it("sharpens the distribution: softmax at t = 0.5 is proportional to p^2", () => {
    const out = new TemperatureProcessor(0.5).process(Float32Array.from([0.2, 0.3, 0.5].map(Math.log)));
    // p^2 = 0.04, 0.09, 0.25 over 0.38
    const probs = softmax(out);
    expect(probs[0]).toBeCloseTo(0.04 / 0.38, 6);
    expect(probs[1]).toBeCloseTo(0.09 / 0.38, 6);
    expect(probs[2]).toBeCloseTo(0.25 / 0.38, 6);
  });

  it("keeps a tiny temperature from overflowing: only the max stays finite", () => {
    const out = new TemperatureProcessor(1e-40).process(new Float32Array([1, 3, 2]));
    expect([...out]).toEqual([-Infinity, 0, -Infinity]);
  });

  it("leaves -Infinity alone and is a no-op at t = 1", () => {
    const out = new TemperatureProcessor(0.25).process(new Float32Array([-Infinity, 1, 0]));
    expect([...out]).toEqual([-Infinity, 0, -4]);
    const allMasked = new TemperatureProcessor(0.5).process(new Float32Array([-Infinity, -Infinity]));
    expect([...allMasked]).toEqual([-Infinity, -Infinity]);
    const same = new Float32Array([0.1, 0.2]);
    expect([...new TemperatureProcessor(1).process(same)]).toEqual([...new Float32Array([0.1, 0.2])]);
  });

  it("rejects temperatures that are not finite and > 0", () => {
    for (const t of [0, -1, Number.NaN, Infinity]) {
      expect(() => new TemperatureProcessor(t)).toThrow(RangeError);
    }
  });
});
