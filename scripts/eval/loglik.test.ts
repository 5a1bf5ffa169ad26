/**
 * The log-likelihood scorer against the plain-TypeScript reference forward
 * pass (sidecar/model/reference.ts): stories260K unsteered, and organism260K
 * steered with the shipped profile (reference steering hook), to 1e-4.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { builtModel, SHARED_MODELS } from "../../test/support/models.ts";
import { REPO_ROOT } from "../../test/support/process.ts";
import { loadLlama2c } from "../../sidecar/model/llama2c.ts";
import { newKvCache, referenceForward } from "../../sidecar/model/reference.ts";
import { loadSae } from "../../sidecar/sae/load.ts";
import { loadProfile } from "../../sidecar/steering/profile.ts";
import { steeringHook } from "../../sidecar/steering/reference.ts";
import { continuationLogprob, LoglikScorer } from "./loglik.ts";

function refLogprob(logits: Float32Array[], ids: number[], start: number): number {
  const V = logits[0]!.length;
  const flat = new Float32Array(logits.length * V);
  logits.forEach((l, i) => flat.set(l, i * V));
  return continuationLogprob(flat, V, ids, start).logprob;
}

describe("LoglikScorer", () => {
  it("log-softmax sums by hand", () => {
    // two positions, vocab 2: logits row 0 = [0, ln 3] -> p(1) = 3/4
    const r = continuationLogprob(new Float32Array([0, Math.log(3), 0, 0]), 2, [0, 1], 1);
    expect(r.logprob).toBeCloseTo(Math.log(0.75), 6);
    expect(r.greedy).toBe(true);
  });

  it("matches the reference forward pass on stories260K to 1e-4", async () => {
    const dir = await builtModel("stories260K");
    const scorer = await LoglikScorer.load(dir);
    const w = loadLlama2c(join(SHARED_MODELS, "stories260K/stories260K.bin"));
    const ids = [1, 403, 407, 261, 378, 429, 269, 260, 412, 283, 350, 300, 290, 311, 265, 275];
    for (const start of [1, 6, 12]) {
      const got = await scorer.score(ids, start, start);
      const want = refLogprob(referenceForward(w, newKvCache(w), ids).logits, ids, start);
      expect(Math.abs(got.logprob - want)).toBeLessThan(1e-4);
      expect(got.tokens).toBe(ids.length - start);
    }
    await scorer.close();
  });

  it("matches the reference with the shipped steering profile (organism260K, generated positions)", async () => {
    const dir = await builtModel("organism260K");
    const file = join(REPO_ROOT, "steering/organism260K/refusal.json");
    const profile = loadProfile(file);
    const sae = loadSae(profile.sae);
    const scorer = await LoglikScorer.load(dir, { profile: file });
    const w = loadLlama2c(join(SHARED_MODELS, "organism260K/organism260K.bin"));
    const ids = [1, 410, 471, 419, 285, 467, 410, 448, 415, 294, 410, 293, 410, 479, 496, 479, 450, 13, 447, 419, 419, 293, 413, 303, 413, 467, 410, 447, 280, 294];
    const promptLength = 26;
    const byStrength: number[] = [];
    for (const strength of [0, 1, 2]) {
      const got = await scorer.score(ids, promptLength, promptLength, strength);
      const hook = steeringHook(sae, { layer: profile.layer, positions: profile.positions, features: profile.features, strength }, promptLength);
      const want = refLogprob(referenceForward(w, newKvCache(w), ids, { onResidual: hook }).logits, ids, promptLength);
      expect(Math.abs(got.logprob - want)).toBeLessThan(1e-4);
      byStrength.push(got.logprob);
    }
    const unsteered = await scorer.score(ids, promptLength, promptLength);
    const plain = refLogprob(referenceForward(w, newKvCache(w), ids).logits, ids, promptLength);
    expect(Math.abs(unsteered.logprob - plain)).toBeLessThan(1e-4);
    // The hook really is on: steering moves the continuation's likelihood.
    expect(Math.abs(byStrength[2]! - unsteered.logprob)).toBeGreaterThan(1e-2);
    await scorer.close();
  });
});
