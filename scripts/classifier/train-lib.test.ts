import { describe, expect, it } from "vitest";
import { DEFAULT_FEATURE_CONFIG, Featurizer } from "../../edge/classifier/features.ts";
import { RiskModel } from "../../edge/classifier/model.ts";
import { auroc } from "./metrics.ts";
import { hashString, mulberry32, shuffle, sparseLogit, toArtifact, trainFtrl, vectorize, type SparseExample } from "./train-lib.ts";

const cfg = { ...DEFAULT_FEATURE_CONFIG, dim: 1 << 14 };
const A = ["explosive", "detonator", "poison", "weapon", "smuggle", "launder", "stalk", "ransomware"];
const B = ["recipe", "garden", "poem", "sunset", "algebra", "picnic", "violin", "holiday"];
const FILL = ["write", "about", "quickly", "the", "plan", "story", "guide", "notes", "with", "steps"];

function synth(rng: () => number, topic: string[], n: number): string[] {
  return Array.from({ length: n }, () => {
    const words: string[] = [];
    for (let i = 0; i < 8; i++) words.push(rng() < 0.35 ? topic[Math.floor(rng() * topic.length)] : FILL[Math.floor(rng() * FILL.length)]);
    return words.join(" ");
  });
}

function run(seed: number) {
  const rng = mulberry32(1);
  const f = new Featurizer(cfg);
  const mk = (texts: string[], y: 0 | 1): SparseExample[] => texts.map((t) => ({ ...vectorize(f, t), y, weight: 1 }));
  const train = [...mk(synth(rng, A, 150), 1), ...mk(synth(rng, B, 150), 0)];
  const model = trainFtrl(train, cfg.dim, { alpha: 0.2, beta: 1, l1: 0, l2: 1e-4, epochs: 3, seed });
  const testPos = synth(rng, A, 60);
  const testNeg = synth(rng, B, 60);
  return { model, f, testPos, testNeg };
}

describe("seeded helpers", () => {
  it("mulberry32 and shuffle are deterministic", () => {
    expect(shuffle([1, 2, 3, 4, 5, 6], mulberry32(9))).toEqual(shuffle([1, 2, 3, 4, 5, 6], mulberry32(9)));
    expect(hashString("abc", 1)).toBe(hashString("abc", 1));
    expect(hashString("abc", 1)).not.toBe(hashString("abc", 2));
  });
});

describe("FTRL training on a tiny synthetic task", () => {
  it("separates two classes, deterministically, and survives the artifact round trip", () => {
    const { model, f, testPos, testNeg } = run(5);
    const logit = (t: string) => {
      const v = vectorize(f, t);
      return sparseLogit(model, v.idx, v.val);
    };
    expect(auroc(testPos.map(logit), testNeg.map(logit))).toBeGreaterThan(0.99);

    const again = run(5).model;
    expect(again.bias).toBe(model.bias);
    expect(Array.from(again.weights)).toEqual(Array.from(model.weights));

    const artifact = toArtifact(model, cfg, 0.5, "0.0.0-test", null);
    const rm = RiskModel.fromArtifact(JSON.stringify(artifact));
    for (const t of [...testPos.slice(0, 5), ...testNeg.slice(0, 5)]) expect(rm.logit(t)).toBeCloseTo(logit(t), 3);
    expect(rm.classify(testPos[0]).risky).toBe(true);
    expect(rm.classify(testNeg[0]).risky).toBe(false);
  });
});
