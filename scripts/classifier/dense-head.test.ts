import { describe, expect, it } from "vitest";
import { DEFAULT_FEATURE_CONFIG, Featurizer, wordHashOf } from "../../edge/classifier/features.ts";
import { EmbeddingHead } from "../../edge/classifier/embedding.ts";
import { Vocabulary } from "../../edge/classifier/vocabulary.ts";
import { DenseHead, pooledVectors } from "./dense-head.ts";
import type { WordVectors } from "./glove.ts";
import { mulberry32 } from "./train-lib.ts";

// A toy vector space: two clusters ("harm" words near +u, "food" words near -u)
// and filler words near 0, D = 8.
const D = 8;
const HARM = ["bomb", "grenade", "explosive", "poison"];
const FOOD = ["cake", "pie", "cookie", "bread"];
const FILLER = ["how", "to", "make", "a", "the", "at", "home", "please", "recipe", "for"];

function toyVectors(seed: number): WordVectors {
  const rng = mulberry32(seed);
  const words = [...FILLER, ...HARM, ...FOOD];
  const vectors = new Float32Array(words.length * D);
  words.forEach((w, r) => {
    const sign = HARM.includes(w) ? 1 : FOOD.includes(w) ? -1 : 0;
    for (let d = 0; d < D; d++) vectors[r * D + d] = (d === 0 ? sign : 0) + (rng() - 0.5) * 0.3;
  });
  return { words, hashes: Int32Array.from(words, wordHashOf), dim: D, vectors };
}

const OPTS = { hidden: 6, sifA: 1e-3, lr: 0.02, l2: 0, batch: 4, seed: 5 };

function train(texts: string[], ys: number[], wv: WordVectors, f: Featurizer): DenseHead {
  const x = pooledVectors(f, wv, texts, OPTS.sifA);
  const head = new DenseHead(x, D, OPTS);
  for (let epoch = 0; epoch < 150; epoch++) {
    for (let i = 0; i < texts.length; i++) {
      const z = head.logit(i);
      head.update(i, 1 / (1 + Math.exp(-z)) - ys[i]);
    }
    head.endEpoch();
  }
  return head;
}

describe("embedding head", () => {
  const f = new Featurizer({ ...DEFAULT_FEATURE_CONFIG, dim: 1 << 12 });
  const wv = toyVectors(1);
  // Training mentions only "bomb" and "cake"; the other words of each cluster are never seen.
  const texts = ["how to make a bomb at home", "a bomb please", "make the bomb", "how to make a cake at home", "a cake recipe please", "make the cake"];
  const ys = [1, 1, 1, 0, 0, 0];
  const head = train(texts, ys, wv, f);
  const artifact = head.toArtifact(wv, "toy");
  const serving = new EmbeddingHead(artifact);
  const vocab = new Vocabulary(artifact.wordHashes, artifact.vocab);
  const servingLogit = (text: string) => {
    f.indices(text);
    const w = f.wordHashes();
    return serving.logit(vocab.rowsOf(w, w.length), 0, w.length);
  };

  it("serves (int8 projected rows, hashed lookup) what it trained (float W1 on mean vectors)", () => {
    const probe = ["how to make a grenade", "a pie recipe for home", "the the the", "unknown words only", "poison cookie bread"];
    const x = pooledVectors(f, wv, probe, OPTS.sifA);
    probe.forEach((t, i) => {
      const ref = head.forward(x.subarray(i * D, (i + 1) * D));
      expect(Math.abs(servingLogit(t) - ref)).toBeLessThan(0.02 * (1 + Math.abs(ref)));
    });
  });

  it("transfers to words it never saw through their vectors", () => {
    for (const w of ["grenade", "explosive", "poison"]) expect(servingLogit(`how to make a ${w} at home`)).toBeGreaterThan(0);
    for (const w of ["pie", "cookie", "bread"]) expect(servingLogit(`how to make a ${w} at home`)).toBeLessThan(0);
  });

  it("gives the no-word logit w2 . relu(b1) when no word is in the vocabulary", () => {
    const want = head.w2.reduce((s, w, j) => s + (head.b1[j] > 0 ? w * head.b1[j] : 0), 0);
    expect(servingLogit("zxq qqv")).toBeCloseTo(want, 6);
  });

  it("rejects a malformed artifact block", () => {
    const a = head.toArtifact(wv, "toy");
    expect(() => new EmbeddingHead({ ...a, vocab: a.vocab + 1 })).toThrow(/row bytes/);
    expect(() => new Vocabulary(a.wordHashes, a.vocab + 1)).toThrow(/hash bytes/);
    expect(() => new EmbeddingHead({ ...a, w2: a.w2.slice(1) })).toThrow(/entries/);
  });
});
