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

describe("FTRL with multiple-instance bags", () => {
  // Every bag holds 4 filler sentences; a positive bag also holds one sentence
  // with a topic-A word. Only bag labels are given: the model must find that
  // the A sentence, not the filler, makes a bag positive.
  const riskySentence = (rng: () => number) =>
    `${FILL[Math.floor(rng() * FILL.length)]} ${A[Math.floor(rng() * A.length)]} ${FILL[Math.floor(rng() * FILL.length)]}`;
  function bagsTask(rng: () => number, n: number) {
    const filler = () => synth(rng, FILL, 1)[0];
    const texts: string[] = [];
    const offsets = [0];
    const ys: (0 | 1)[] = [];
    for (let b = 0; b < n; b++) {
      const y: 0 | 1 = b % 2 === 0 ? 1 : 0;
      const members = [filler(), filler(), filler(), filler()];
      if (y === 1) members.push(riskySentence(rng));
      texts.push(...members);
      offsets.push(texts.length);
      ys.push(y);
    }
    return { texts, offsets: Int32Array.from(offsets), ys };
  }

  it("trains the riskiest member of each bag: filler from positive bags stays low", () => {
    const f = new Featurizer(cfg);
    const { texts, offsets, ys } = bagsTask(mulberry32(4), 300);
    const examples: SparseExample[] = texts.map((t, r) => {
      let b = 0;
      while (offsets[b + 1] <= r) b++;
      return { ...vectorize(f, t), y: ys[b], weight: 1 };
    });
    const opts = { alpha: 0.2, beta: 1, l1: 0, l2: 1e-4, epochs: 4, seed: 2 };
    const mil = trainFtrl(examples, cfg.dim, { ...opts, bags: offsets });
    const flat = trainFtrl(examples, cfg.dim, opts); // every member labelled with its bag's label
    const rng = mulberry32(99);
    const logitOf = (m: typeof mil) => (t: string) => {
      const v = vectorize(f, t);
      return sparseLogit(m, v.idx, v.val);
    };
    const fillers = synth(rng, FILL, 50);
    const risky = fillers.map(() => riskySentence(rng));
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    // Bag training: filler alone scores below 0, an A sentence above it.
    expect(mean(fillers.map(logitOf(mil)))).toBeLessThan(-1);
    expect(mean(risky.map(logitOf(mil)))).toBeGreaterThan(0);
    // Flattened, the filler of positive bags is labelled positive and scores far higher.
    expect(mean(fillers.map(logitOf(flat)))).toBeGreaterThan(mean(fillers.map(logitOf(mil))) + 1);
  });

  it("bags of one train exactly like no bags", () => {
    const { model } = run(5);
    const rng = mulberry32(1);
    const f = new Featurizer(cfg);
    const mk = (texts: string[], y: 0 | 1): SparseExample[] => texts.map((t) => ({ ...vectorize(f, t), y, weight: 1 }));
    const train = [...mk(synth(rng, A, 150), 1), ...mk(synth(rng, B, 150), 0)];
    const ones = Int32Array.from({ length: train.length + 1 }, (_, i) => i);
    const bagged = trainFtrl(train, cfg.dim, { alpha: 0.2, beta: 1, l1: 0, l2: 1e-4, epochs: 3, seed: 5, bags: ones });
    expect(bagged.bias).toBe(model.bias);
    expect(Array.from(bagged.weights)).toEqual(Array.from(model.weights));
  });

  it("rejects bags that do not cover the examples", () => {
    const f = new Featurizer(cfg);
    const ex: SparseExample[] = [{ ...vectorize(f, "a b c"), y: 1, weight: 1 }];
    expect(() => trainFtrl(ex, cfg.dim, { ...DEFAULT_OPTS, bags: Int32Array.from([0, 2]) })).toThrow(/cover/);
  });
});

const DEFAULT_OPTS = { alpha: 0.2, beta: 1, l1: 0, l2: 1e-4, epochs: 1, seed: 1 };
