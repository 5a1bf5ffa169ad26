import { describe, expect, it } from "vitest";
import { TopPProcessor } from "./top-p.ts";

const NEG = -Infinity;
// Probabilities 0.15, 0.5, 0.05, 0.3 as logits; sorted: id1 0.5, id3 0.3, id0 0.15, id2 0.05.
const probs = [0.15, 0.5, 0.05, 0.3];
const logits = () => Float32Array.from(probs.map(Math.log));
const kept = (out: Float32Array) => [...out].flatMap((v, i) => (v === NEG ? [] : [i]));

describe("TopPProcessor", () => {
  it("keeps the smallest set whose probability reaches p", () => {
    expect(kept(new TopPProcessor(0.45).process(logits()))).toEqual([1]); // 0.5 >= 0.45
    expect(kept(new TopPProcessor(0.75).process(logits()))).toEqual([1, 3]); // 0.8 >= 0.75
    expect(kept(new TopPProcessor(0.85).process(logits()))).toEqual([0, 1, 3]); // 0.95 >= 0.85
    expect(kept(new TopPProcessor(0.99).process(logits()))).toEqual([0, 1, 2, 3]); // 1.0
  });

  it("leaves the kept logits unchanged", () => {
    const original = logits();
    const out = new TopPProcessor(0.75).process(logits());
    expect(out[1]).toBe(original[1]);
    expect(out[3]).toBe(original[3]);
  });

  it("does not depend on a constant shift of the logits", () => {
    const shifted = Float32Array.from(probs.map((p) => Math.log(p) + 40));
    expect(kept(new TopPProcessor(0.75).process(shifted))).toEqual([1, 3]);
  });

  it("p = 1 changes nothing", () => {
    const row = new Float32Array([NEG, 1, 2, -30]);
    expect([...new TopPProcessor(1).process(row)]).toEqual([NEG, 1, 2, -30]);
  });

  it("a tiny p (or 0) still keeps the single most likely token", () => {
    expect(kept(new TopPProcessor(1e-9).process(logits()))).toEqual([1]);
    expect(kept(new TopPProcessor(0).process(logits()))).toEqual([1]);
  });

  it("minTokensToKeep raises the floor", () => {
    expect(kept(new TopPProcessor(0.1, 3).process(logits()))).toEqual([0, 1, 3]);
    // More than the first sort window (64): 70 equal logits kept, lowest ids first.
    const flat = new TopPProcessor(0.01, 70).process(new Float32Array(100));
    expect(kept(flat)).toEqual([...Array(70).keys()]);
  });

  it("breaks ties by lowest token id", () => {
    // Uniform over 4: each 0.25 (exact), so p = 0.5 is reached after two tokens.
    expect(kept(new TopPProcessor(0.5).process(new Float32Array([0, 0, 0, 0])))).toEqual([0, 1]);
    expect(kept(new TopPProcessor(0.6).process(new Float32Array([0, 0, 0, 0])))).toEqual([0, 1, 2]);
  });

  it("works after top-k has masked tokens", () => {
    // Two live tokens with probabilities 0.8 and 0.2 (others masked).
    const row = new Float32Array([NEG, Math.log(0.2), NEG, Math.log(0.8)]);
    expect(kept(new TopPProcessor(0.7).process(row))).toEqual([3]);
  });

  it("rejects p outside [0, 1]", () => {
    for (const p of [-0.1, 1.01, Number.NaN]) expect(() => new TopPProcessor(p)).toThrow(RangeError);
    expect(() => new TopPProcessor(0.5, 0)).toThrow(RangeError);
  });
});

describe("TopPProcessor on larger random rows", () => {
  it("agrees with a full sort and running sum, for peaked and flat rows", async () => {
    const { Rng } = await import("../rng.ts");
    const rng = new Rng(77);
    for (let trial = 0; trial < 40; trial++) {
      const V = 1 + Math.floor(rng.nextFloat() * 2000);
      const spread = trial % 2 === 0 ? 2 : 30; // 2: flat, big nuclei (several sort windows); 30: peaked
      const row = Float32Array.from({ length: V }, () => Math.round(rng.nextFloat() * spread * 4) / 4);
      const p = rng.nextFloat();
      // Brute force: order by (logit desc, id asc), add probabilities until >= p.
      const order = [...row.keys()].sort((a, b) => row[b] - row[a] || a - b);
      const weights = [...row].map((x) => Math.exp(x - row[order[0]]));
      const total = weights.reduce((s, w) => s + w, 0);
      let n = 0;
      for (let cumulative = 0; n < V && cumulative < p; n++) cumulative += weights[order[n]] / total;
      const expected = new Set(order.slice(0, Math.max(n, 1)));
      const out = new TopPProcessor(p).process(Float32Array.from(row));
      expect(kept(out)).toEqual([...expected].sort((a, b) => a - b));
    }
  });
});
