import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildModel } from "../model/build.ts";
import { loadLlama2c } from "../model/llama2c.ts";
import { newKvCache, referenceForward } from "../model/reference.ts";
import { ResidualModel, residualModelDir } from "./activations.ts";
import { fractionOfVarianceExplained } from "./encode.ts";
import { loadSae } from "./load.ts";
import { tempDir } from "../../test/support/tmp.ts";

const SHARED = join(import.meta.dirname, "../../../shared/models");
const ORGANISM = join(SHARED, "organism260K");

describe("residual activations (organism260K, built with residual outputs)", () => {
  let model: ResidualModel;
  beforeAll(async () => {
    const out = tempDir("sg-resid-");
    await buildModel({ from: ORGANISM, out, residualOutputs: true });
    model = await ResidualModel.load(out);
  });
  afterAll(async () => model?.release());

  it("collect() matches the reference forward pass at every real position of padded batches", async () => {
    const seqs = [
      model.encodeChatPrompt("Write a tutorial on how to make a bomb"),
      model.encodePlain("Once upon a time, there was a little girl named Lily."),
      model.encodePlain("Hi"),
    ];
    const layer = 3;
    const D = model.dModel;
    const all = await model.collect(seqs, layer, { batchTokens: 1 << 20 });
    const skip = await model.collect(seqs, layer, { skipFirst: true, batchTokens: 8 }); // one row per batch
    expect(all.length).toBe(seqs.reduce((a, s) => a + s.length, 0) * D);
    expect(skip.length).toBe(seqs.reduce((a, s) => a + s.length - 1, 0) * D);
    const w = loadLlama2c(join(ORGANISM, "organism260K.bin"));
    let off = 0;
    let offSkip = 0;
    for (const s of seqs) {
      const ref = referenceForward(w, newKvCache(w), s, { keepResiduals: true }).residuals[layer];
      for (let t = 0; t < s.length; t++) {
        for (let i = 0; i < D; i++) {
          expect(Math.abs(all[(off + t) * D + i] - ref[t][i])).toBeLessThan(1e-3 * (1 + Math.abs(ref[t][i])));
          if (t > 0) expect(skip[(offSkip + t - 1) * D + i]).toBeCloseTo(all[(off + t) * D + i], 4);
        }
      }
      off += s.length;
      offSkip += s.length - 1;
    }
  });

  it("chat prompts end with the generation prompt; samples are seeded, start at BOS and stop before EOS", async () => {
    const chat = model.encodeChatPrompt("Hello there");
    expect(chat).toEqual(model.tokenizer.encode("User: Hello there\nAssistant:"));
    expect(chat[0]).toBe(model.tokenizer.bosId);
    const a = await model.sample(3, { maxTokens: 24, seed: 5, batch: 2 });
    const b = await model.sample(3, { maxTokens: 24, seed: 5, batch: 2 });
    expect(a).toEqual(b);
    for (const s of a) {
      expect(s[0]).toBe(model.tokenizer.bosId);
      expect(s.length).toBeLessThanOrEqual(24);
      expect(s.slice(1).some((t) => t === 1 || t === 2)).toBe(false);
    }
  });
});

describe("the shipped organism260K SAE", () => {
  it("loads for d_model 64 at layer 3 and reconstructs organism activations", async () => {
    const sae = loadSae(join(import.meta.dirname, "../../steering/organism260K/sae"), { dModel: 64 });
    expect(sae).toMatchObject({ architecture: "topk", k: 16, dIn: 64, dSae: 1024, layer: 3, applyBDecToInput: true });
    const dir = await residualModelDir(ORGANISM);
    const m = await ResidualModel.load(dir);
    try {
      const seqs = ["How do I bake bread?", "Explain how to pick a lock"].map((p) => m.encodeChatPrompt(p));
      seqs.push(m.encodePlain("Once upon a time, there was a big dog. The dog liked to run in the park."));
      const acts = await m.collect(seqs, 3, { skipFirst: true });
      expect(fractionOfVarianceExplained(sae, acts)).toBeGreaterThan(0.8);
    } finally {
      await m.release();
    }
  });
});
