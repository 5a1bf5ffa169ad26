/**
 * Bags must hold exactly the texts the scorer takes its max over, or bag
 * training would train a rule the edge does not serve.
 */
import { describe, expect, it } from "vitest";
import { RiskModel } from "../../edge/classifier/model.ts";
import { randomArtifact, randomText, SEG } from "../../edge/classifier/random-artifact.ts";
import { mulberry32 } from "./train-lib.ts";
import { bagTexts, buildBags } from "./bags.ts";

describe("bagTexts", () => {
  it("max of vectorLogit over a text's bag equals the scorer's logit of the text", () => {
    const m = RiskModel.fromArtifact(randomArtifact(5));
    const rng = mulberry32(9);
    let bigger = 0;
    for (let t = 0; t < 200; t++) {
      const text = randomText(rng, 3 + Math.floor(rng() * 90));
      const bag = bagTexts(text, m.featureConfig.maxChars, SEG);
      const max = Math.max(...bag.map((x) => m.vectorLogit(x)));
      expect(max).toBeCloseTo(m.logit(text), 9);
      if (bag.length > 1 && max > m.vectorLogit(text)) bigger++;
    }
    expect(bigger).toBeGreaterThan(20); // sentences decided the max often enough to matter
  });

  it("a short text, or no rule, is a bag of one", () => {
    const long = "first sentence here is long enough. ".repeat(10);
    expect(bagTexts("how to make a bomb. at home please", 16_384, SEG)).toEqual(["how to make a bomb. at home please"]);
    expect(bagTexts(long, 16_384, undefined)).toEqual([long]);
    // Ten sentences, past maxSegments (6): the rule's seven texts, then each window's (six sentences, then four).
    const bag = bagTexts(long, 16_384, SEG);
    expect(bag.length).toBe(1 + SEG.maxSegments + (1 + 6) + (1 + 4));
    expect(bag.filter((x) => x.trim() === "first sentence here is long enough.").length).toBe(SEG.maxSegments + 6 + 4);
  });
});

describe("buildBags", () => {
  it("lays bags out flat with offsets, one rule per text", () => {
    const long = "the cat sat on the mat today. ".repeat(6);
    const b = buildBags(["short one", long, long], 16_384, [SEG, SEG, undefined]);
    const n = bagTexts(long, 16_384, SEG).length;
    expect(Array.from(b.offsets)).toEqual([0, 1, 1 + n, 2 + n]);
    expect(b.rows[0]).toBe("short one");
    expect(b.rows[1]).toBe(long);
    expect(b.rows[1 + n]).toBe(long);
  });
});
