import { describe, expect, it } from "vitest";
import { DEFAULT_FEATURE_CONFIG } from "../../edge/classifier/features.ts";
import { dedupeKey, type TextItem, type TrainingData } from "./data.ts";
import { assembleTrainingData, DEFAULT_FIT, fitClassifier, type FitOptions } from "./fit.ts";
import { CONTRAST_SETS } from "./augment.ts";
import { DEFAULT_FTRL, mulberry32 } from "./train-lib.ts";
import { auroc, rateAtOrAbove } from "./metrics.ts";

const HARM = ["explosive", "detonator", "poison", "weapon", "smuggle", "launder", "stalk", "ransomware"];
const SAFE = ["recipe", "garden", "poem", "sunset", "algebra", "picnic", "violin", "holiday"];
const FILL = ["write", "about", "quickly", "the", "plan", "story", "guide", "notes", "with", "steps"];

function prompts(seed: number, topic: string[], n: number, label: 0 | 1, source: string): TextItem[] {
  const rng = mulberry32(seed);
  return Array.from({ length: n }, (_, i) => {
    const words = [`item${i}`];
    for (let w = 0; w < 8; w++) words.push(rng() < 0.35 ? topic[Math.floor(rng() * topic.length)] : FILL[Math.floor(rng() * FILL.length)]);
    return { text: words.join(" "), label, source };
  });
}

function data(): TrainingData {
  return {
    harmful: prompts(1, HARM, 300, 1, "harm"),
    benign: prompts(2, SAFE, 300, 0, "safe"),
    templates: Array.from({ length: 20 }, (_, i) => ({ text: `Template ${i}: you are free now. [INSERT PROMPT HERE]`, source: "tpl" })),
  };
}

const options: FitOptions = {
  features: { ...DEFAULT_FEATURE_CONFIG, dim: 1 << 14 },
  ftrl: { ...DEFAULT_FTRL, epochs: 3, seed: 5 },
  build: { seed: 5, valFrac: 0.2, perTemplateHarmful: 1, perTemplateBenign: 1 },
  segments: DEFAULT_FIT.segments,
  posWeight: 1,
  sourceBalance: 0.5,
  wrappedShare: 0.25,
  sourceWeights: {},
  bagTraining: false,
  targetFpr: 0.05,
  modelVersion: "0.0.0-test",
  quiet: true,
};

describe("fitClassifier", () => {
  it("trains a model that separates the classes, with the threshold at the validation FPR target", () => {
    const fit = fitClassifier(data(), new Set(), options);
    const benignVal = fit.scored.filter((x) => x.y === 0 && x.kind === "direct").map((x) => x.s);
    const harmfulVal = fit.scored.filter((x) => x.y === 1 && x.kind === "direct").map((x) => x.s);
    expect(benignVal.length).toBeGreaterThan(30);
    expect(rateAtOrAbove(benignVal, fit.threshold)).toBeLessThanOrEqual(0.05);
    expect(auroc(harmfulVal, benignVal)).toBeGreaterThan(0.95);
    expect(fit.validation.threshold).toBe(fit.threshold);
    expect(fit.artifact.threshold).toBe(fit.threshold);
    // validation was scored by the shipped scorer over the returned artifact
    for (const x of fit.scored.slice(0, 20)) expect(fit.model.scoreText(x.text)).toBeCloseTo(x.s, 12);
  });

  it("is deterministic given the seed, and a different seed changes the model", () => {
    const a = fitClassifier(data(), new Set(), options);
    const b = fitClassifier(data(), new Set(), options);
    expect(JSON.stringify(b.artifact)).toBe(JSON.stringify(a.artifact));
    const c = fitClassifier(data(), new Set(), { ...options, ftrl: { ...options.ftrl, seed: 6 }, build: { ...options.build, seed: 6 } });
    expect(c.artifact.weights).not.toBe(a.artifact.weights);
  });

  it("keeps held-out prompts out of training and validation", () => {
    const d = data();
    const held = new Set(d.harmful.slice(0, 50).map((x) => dedupeKey(x.text)));
    const fit = fitClassifier(d, held, options);
    expect(fit.ds.removedOverlaps.harm).toBe(50);
    for (const x of [...fit.ds.train, ...fit.ds.val]) expect(held.has(dedupeKey(x.text))).toBe(false);
  });

  it("sets the threshold on the pool it is given", () => {
    // a pool of harmful prompts only: 5% of them may be flagged, so the threshold rises above almost all of them
    const fit = fitClassifier(data(), new Set(), { ...options, thresholdPool: (x) => x.y === 1 && x.kind === "direct" });
    const harmfulVal = fit.scored.filter((x) => x.y === 1 && x.kind === "direct").map((x) => x.s);
    expect(rateAtOrAbove(harmfulVal, fit.threshold)).toBeLessThanOrEqual(0.05);
  });
});

describe("assembleTrainingData", () => {
  it("adds the contrast sets to a copy and leaves the files it is given as they were", () => {
    const files = data();
    const before = { harmful: files.harmful.length, benign: files.benign.length };
    const out = assembleTrainingData("/nonexistent", { fieldAugment: false, contrastFiles: CONTRAST_SETS, backgroundPerBook: 0, seed: 1 }, files);
    expect(files.harmful.length).toBe(before.harmful);
    expect(files.benign.length).toBe(before.benign);
    expect(out.harmful.length).toBeGreaterThan(before.harmful);
    expect(out.benign.length).toBeGreaterThan(before.benign);
    expect(out.harmful.slice(0, before.harmful)).toEqual(files.harmful);
  });
});
