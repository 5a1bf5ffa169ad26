/**
 * The one-pass segment scoring (Featurizer.indicesPieces + RiskModel.logit)
 * against the plain definition: score the whole text, then every sentence or
 * line on its own, and take the max.
 */
import { describe, expect, it } from "vitest";
import { DEFAULT_FEATURE_CONFIG, Featurizer, foldText } from "./features.ts";
import { RiskModel } from "./model.ts";
import { mulberry32 } from "../../sidecar/model/random-model.ts";
import { randomArtifact, randomText, SEG } from "./random-artifact.ts";

/** The segment rule written out plainly: featurise the whole text and each segment separately. */
function referenceLogit(m: RiskModel, text: string): number {
  const folded = foldText(text, m.featureConfig.maxChars);
  let z = m.vectorLogit(folded);
  if (folded.length < SEG.minTextChars) return z;
  let start = 0;
  let count = 0;
  for (let i = 0; i <= folded.length && count < SEG.maxSegments; i++) {
    let end = -1;
    if (i === folded.length) end = i;
    else {
      const c = folded[i];
      if (c === "\n" || c === "\r") end = i;
      else if ((c === "." || c === "!" || c === "?") && /[ \n\r\t]/.test(folded[i + 1] ?? "")) end = i + 1;
    }
    if (end < 0) continue;
    if (start === 0 && end === folded.length) break;
    if (end - start >= SEG.minChars) {
      z = Math.max(z, m.vectorLogit(folded.slice(start, end)));
      count++;
    }
    start = i + 1;
  }
  return z;
}

describe("one-pass segment scoring", () => {
  it("equals scoring the whole text and each segment separately", () => {
    const rng = mulberry32(7);
    const m = RiskModel.fromArtifact(randomArtifact(11));
    let segmented = 0;
    for (let t = 0; t < 200; t++) {
      const text = randomText(rng, 5 + Math.floor(rng() * 80));
      const want = referenceLogit(m, text);
      if (want !== m.vectorLogit(text)) segmented++;
      expect(m.ruleLogit(text)).toBeCloseTo(want, 10);
    }
    expect(segmented).toBeGreaterThan(20); // the segments decided the max often enough to matter
  });

  it("pieces' own and crossing features are exactly the whole text's features", () => {
    const rng = mulberry32(3);
    const f = new Featurizer({ ...DEFAULT_FEATURE_CONFIG, dim: 1 << 12 });
    for (let t = 0; t < 50; t++) {
      const folded = foldText(randomText(rng, 40), 16_384);
      const whole = Array.from(f.indicesFolded(folded)).sort((a, b) => a - b);
      const wholeWords = Array.from(f.wordHashes());
      const cuts = [0];
      for (let i = 1; i < folded.length; i++) if (folded[i - 1] === "\n" || (rng() < 0.05 && folded[i - 1] === " ")) cuts.push(i);
      cuts.push(folded.length);
      const pieces = cuts.length - 1;
      const own: number[][] = [];
      for (let p = 0; p < pieces; p++) own.push(Array.from(f.indicesFolded(folded.slice(cuts[p], cuts[p + 1]))));
      const r = f.indicesPieces(folded, cuts, pieces);
      for (let p = 0; p < pieces; p++) expect(Array.from(r.idx.subarray(p ? r.idxEnd[p - 1] : 0, r.idxEnd[p]))).toEqual(own[p]);
      const all = [...r.idx.subarray(0, r.idxEnd[pieces - 1]), ...r.cross].sort((a, b) => a - b);
      expect(all).toEqual(whole);
      expect(Array.from(r.words.subarray(0, r.wordEnd[pieces - 1]))).toEqual(wholeWords);
    }
  });

  it("reads a format 2 artifact (before letterRuns) without cutting letter runs", () => {
    const { letterRuns: _, ...v2features } = randomArtifact(1).features;
    const v2 = RiskModel.fromArtifact({ ...randomArtifact(1), formatVersion: 2, features: v2features });
    const v3 = RiskModel.fromArtifact(randomArtifact(1));
    expect(v3.logit("heyyy there")).toBe(v3.logit("hey there"));
    expect(v2.logit("heyyy there")).not.toBe(v2.logit("hey there"));
    expect(v2.logit("hey there")).toBe(v3.logit("hey there"));
  });

  it("rejects a format 1 artifact (L2-normalised counts) with a way out", () => {
    expect(() => RiskModel.fromArtifact({ ...randomArtifact(1), formatVersion: 1 })).toThrow(/formatVersion 1 .*retrain with npm run train:classifier/);
  });
});
