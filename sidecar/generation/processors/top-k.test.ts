import { describe, expect, it } from "vitest";
import { TopKProcessor } from "./top-k.ts";

const NEG = -Infinity;

describe("TopKProcessor", () => {
  it("keeps the k largest logits and masks the rest", () => {
    const logits = () => new Float32Array([0.5, 3, -1, 2.5, 1, 0]);
    expect([...new TopKProcessor(1).process(logits())]).toEqual([NEG, 3, NEG, NEG, NEG, NEG]);
    expect([...new TopKProcessor(2).process(logits())]).toEqual([NEG, 3, NEG, 2.5, NEG, NEG]);
    expect([...new TopKProcessor(4).process(logits())]).toEqual([0.5, 3, NEG, 2.5, 1, NEG]);
  });

  it("keeps both of two equal top values when k covers them", () => {
    const out = new TopKProcessor(2).process(new Float32Array([0.1, 3, -1, 2.5, 3, 0]));
    expect([...out]).toEqual([NEG, 3, NEG, NEG, 3, NEG]);
  });

  it("breaks ties at the k-th value by lowest token id, keeping exactly k", () => {
    // Three tokens tie at 2 for the last two places: ids 1 and 2 are kept, 3 is not.
    const out = new TopKProcessor(3).process(new Float32Array([1, 2, 2, 2, 5]));
    expect([...out]).toEqual([NEG, 2, 2, NEG, 5]);
    const allEqual = new TopKProcessor(2).process(new Float32Array([0, 0, 0, 0]));
    expect([...allEqual]).toEqual([0, 0, NEG, NEG]);
  });

  it("changes nothing when k >= vocabulary size", () => {
    expect([...new TopKProcessor(3).process(new Float32Array([1, 2, 3]))]).toEqual([1, 2, 3]);
    expect([...new TopKProcessor(10).process(new Float32Array([1, 2, 3]))]).toEqual([1, 2, 3]);
  });

  it("works on rows that already hold -Infinity", () => {
    const out = new TopKProcessor(2).process(new Float32Array([NEG, 1, NEG, NEG]));
    expect([...out]).toEqual([NEG, 1, NEG, NEG]);
  });

  it("rejects k that is not an integer >= 1", () => {
    for (const k of [0, -1, 1.5, Number.NaN]) expect(() => new TopKProcessor(k)).toThrow(RangeError);
  });
});

describe("TopKProcessor on larger random rows", () => {
  it("agrees with a full sort (ties by id) for many k", async () => {
    const { Rng } = await import("../rng.ts");
    const rng = new Rng(2024);
    for (let trial = 0; trial < 30; trial++) {
      const V = 1 + Math.floor(rng.nextFloat() * 500);
      // Few distinct values so ties are common; some masked tokens.
      const row = Float32Array.from({ length: V }, () => {
        const r = rng.nextFloat();
        return r < 0.1 ? NEG : Math.floor(r * 20) / 4;
      });
      const k = 1 + Math.floor(rng.nextFloat() * V);
      // Larger first, then lower id (row[b] - row[a] is NaN for two -Infinity: falls to the id).
      const order = [...row.keys()].sort((a, b) => row[b] - row[a] || a - b);
      const expected = new Set(order.slice(0, k));
      const out = new TopKProcessor(k).process(Float32Array.from(row));
      out.forEach((v, i) => expect(v).toBe(expected.has(i) ? row[i] : NEG));
    }
  });
});
