/**
 * Steering through the engine on stories260K: profiles load (their SAEs are
 * attached at load, or used as baked), Info lists them, a steered request
 * follows the reference, a mixed batch gives each row the tokens it gets
 * alone, and Probe reads the reference encoder's activations.
 */
import { status } from "@grpc/grpc-js";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GenerateRequest, ProbeRequest, type GenerateChunk } from "../../proto/gen/steerguard/v1/sidecar.ts";
import { builtModel, SHARED_MODELS } from "../../test/support/models.ts";
import { Engine } from "../engine/engine.ts";
import { buildModel } from "../model/build.ts";
import { loadLlama2c } from "../model/llama2c.ts";
import { argmax, newKvCache, referenceForward } from "../model/reference.ts";
import type { LlamaWeights } from "../model/weights.ts";
import { encode } from "../sae/encode.ts";
import type { Sae } from "../sae/types.ts";
import { SidecarError } from "../server/backend.ts";
import { steeringHook, type SteeringSpec } from "./reference.ts";
import { loadProfiles, missingSaes } from "./registry.ts";
import { conditionAt, writeStoriesProfiles } from "./test-support.ts";
import { tempDir } from "../../test/support/tmp.ts";

const tmp = () => tempDir("sg-steer-engine-");

function steeredGreedy(w: LlamaWeights, prompt: number[], steps: number, steer?: { sae: Sae; spec: SteeringSpec }): number[] {
  const cache = newKvCache(w);
  const onResidual = steer ? steeringHook(steer.sae, steer.spec, prompt.length) : undefined;
  let logits = referenceForward(w, cache, prompt, { onResidual }).logits.at(-1)!;
  const out: number[] = [];
  for (let s = 0; s < steps; s++) {
    const next = argmax(logits);
    if (next === 2) break; // </s>
    out.push(next);
    if (s + 1 < steps) logits = referenceForward(w, cache, [next], { onResidual }).logits[0];
  }
  return out;
}

async function runChunks(engine: Engine, req: GenerateRequest) {
  const chunks: GenerateChunk[] = [];
  for await (const c of engine.generate(req, new AbortController().signal)) chunks.push(c);
  return { chunks, tokens: chunks.flatMap((c) => c.tokenIds), finish: chunks.at(-1)!.finish! };
}

async function run(engine: Engine, req: GenerateRequest) {
  const chunks: GenerateChunk[] = [];
  for await (const c of engine.generate(req, new AbortController().signal)) chunks.push(c);
  return { tokens: chunks.flatMap((c) => c.tokenIds), finish: chunks.at(-1)!.finish! };
}

const request = (prompt: string, maxTokens: number, steering?: { profile: string; strength: number }) =>
  GenerateRequest.fromPartial({ requestId: prompt, input: { $case: "prompt", value: prompt }, sampling: { temperature: 0, maxTokens }, steering });

describe("steering in the engine (stories260K)", () => {
  const w = loadLlama2c(join(SHARED_MODELS, "stories260K/stories260K.bin"));
  const dir = tmp();
  const { jump, topk, refusal, boost } = writeStoriesProfiles(dir);
  let engine: Engine;
  let model: string;

  beforeAll(async () => {
    model = await builtModel("stories260K");
    engine = await Engine.load(model, { maxBatch: 4, profiles: [join(dir, "refusal.json")], profileDirs: [dir] });
  });
  afterAll(() => engine?.close());

  it("lists the profiles and the layers attached at load", () => {
    const info = engine.info();
    expect(info.hookedLayers).toEqual([2, 3]);
    expect(info.profiles).toEqual([
      { name: "refusal", layer: 2, numFeatures: 3, positions: "generated", description: "test", hasCondition: false, conditionThreshold: 0 },
      { name: "boost", layer: 3, numFeatures: 2, positions: "all", description: "", hasCondition: false, conditionThreshold: 0 },
    ]);
  });

  it("steers a request as the reference does, and a mixed batch gives each row its solo tokens", async () => {
    const ids = engine.tokenizer.encode("Once upon a time");
    const strength = 1.5;
    const expected = steeredGreedy(w, ids, 24, { sae: jump, spec: { ...refusal, strength } });
    const steered = await run(engine, request("Once upon a time", 24, { profile: "refusal", strength }));
    expect(steered.tokens).toEqual(expected);
    expect(steered.finish.usage!.steeringApplied).toBe(true);
    const plainTokens = steeredGreedy(w, ids, 24);
    expect(steered.tokens).not.toEqual(plainTokens);

    const reqs = [
      request("Once upon a time", 24, { profile: "refusal", strength }),
      request("The little dog ran to the big red ball and", 20),
      request("Lily", 16, { profile: "boost", strength: 0.7 }),
    ];
    const alone = [];
    for (const r of reqs) alone.push(await run(engine, r));
    const steps = engine["scheduler"].steps;
    const together = await Promise.all(reqs.map((r) => run(engine, r)));
    // batched: fewer model calls than the rows' tokens one at a time
    expect(engine["scheduler"].steps - steps).toBeLessThan(together.reduce((n, r) => n + r.tokens.length, 0) - 10);
    expect(together.map((r) => r.tokens)).toEqual(alone.map((r) => r.tokens));
    expect(together.map((r) => r.finish.usage!.steeringApplied)).toEqual([true, false, true]);
    expect(alone[0]!.tokens).toEqual(expected);
    expect(alone[1]!.tokens).toEqual(steeredGreedy(w, engine.tokenizer.encode("The little dog ran to the big red ball and"), 20));
    expect(alone[2]!.tokens).not.toEqual(steeredGreedy(w, engine.tokenizer.encode("Lily"), 16));
    expect(alone[2]!.tokens).toEqual(steeredGreedy(w, engine.tokenizer.encode("Lily"), 16, { sae: topk, spec: { ...boost, strength: 0.7 } }));
  });

  it("probes a profile's features like the reference encoder", async () => {
    const prompt = "Tom and Sue went to the park";
    const ids = engine.tokenizer.encode(prompt);
    const res = referenceForward(w, newKvCache(w), ids, { keepResiduals: true }).residuals;
    for (const [p, sae] of [[refusal, jump], [boost, topk]] as const) {
      const got = await engine.probe(ProbeRequest.fromPartial({ input: { $case: "prompt", value: prompt }, profile: p.name }));
      expect(got.promptTokens).toBe(ids.length);
      const acts = res[p.layer]!.map((x) => encode(sae, x));
      p.features.forEach((f, j) => {
        const col = acts.map((a) => a[f.index]!);
        const g = got.features[j]!;
        expect([g.index, g.layer]).toEqual([f.index, p.layer]);
        expect(Math.abs(g.last - col.at(-1)!)).toBeLessThan(1e-4);
        expect(Math.abs(g.mean - col.reduce((a, b) => a + b, 0) / col.length)).toBeLessThan(1e-4);
        expect(Math.abs(g.max - Math.max(...col))).toBeLessThan(1e-4);
      });
      expect(got.features.some((f) => f.max > 0)).toBe(true);
    }
  });

  it("rejects unknown profiles and bad strengths with INVALID_ARGUMENT", async () => {
    const bad = async (f: () => Promise<unknown>) => (await f().catch((e: unknown) => e)) as SidecarError;
    const e1 = await bad(() => run(engine, request("x", 2, { profile: "nope", strength: 1 })));
    expect(e1.code).toBe(status.INVALID_ARGUMENT);
    expect(e1.message).toMatch(/unknown steering profile "nope" \(loaded: refusal, boost\)/);
    expect((await bad(() => run(engine, request("x", 2, { profile: "boost", strength: NaN })))).code).toBe(status.INVALID_ARGUMENT);
    expect((await bad(() => engine.probe(ProbeRequest.fromPartial({ input: { $case: "prompt", value: "x" }, profile: "nope" })))).code).toBe(status.INVALID_ARGUMENT);
  });

  it("steers a conditional request exactly when its condition holds, and reports the outcome on the first chunk", async () => {
    const prompt = "Once upon a time";
    const ids = engine.tokenizer.encode(prompt);
    const strength = 1.5;
    // A condition on features active at the prompt's last token that the profile does not steer.
    const { features, value } = conditionAt(w, jump, refusal.layer, ids, refusal.features.map((f) => f.index));
    expect(value).toBeGreaterThan(0.05);
    const margin = Math.max(0.05, 0.1 * value);
    const condDir = tmp();
    const file = join(condDir, "refusal-if.json");
    writeFileSync(file, JSON.stringify({ ...refusal, name: "refusal-if", sae: join(dir, "sae-jump"), condition: { features, threshold: value - margin } }));
    const e = await Engine.load(model, { maxBatch: 4, profiles: [join(dir, "refusal.json"), file] });
    try {
      expect(e.info().profiles.find((p) => p.name === "refusal-if")).toMatchObject({ hasCondition: true, conditionThreshold: value - margin });
      const cond = (threshold?: number) => GenerateRequest.fromPartial({ ...request(prompt, 24), steering: { profile: "refusal-if", strength, conditional: true, conditionThreshold: threshold } });
      const steered = await runChunks(e, request(prompt, 24, { profile: "refusal", strength }));
      const plain = await runChunks(e, request(prompt, 24));
      expect(steered.tokens).not.toEqual(plain.tokens);
      const spec = { ...refusal, strength };
      const holdsRef = steeredGreedy(w, ids, 24, { sae: jump, spec: { ...spec, condition: { features, threshold: value - margin } } });
      expect(holdsRef).toEqual(steered.tokens);

      // Alone, then all four rows together: the same tokens.
      const reqs = [cond(), cond(value + margin), request(prompt, 24, { profile: "refusal", strength }), request(prompt, 24)];
      const alone = [];
      for (const r of reqs) alone.push(await runChunks(e, r));
      const together = await Promise.all(reqs.map((r) => runChunks(e, r)));
      for (const got of [alone, together]) {
        const [holds, fails] = got;
        expect(holds!.tokens).toEqual(steered.tokens);
        expect(fails!.tokens).toEqual(plain.tokens);
        expect(got.map((r) => r.finish.usage!.steeringApplied)).toEqual([true, false, true, false]);
        // The outcome rides on the first chunk only, the value the reference's to 1e-4.
        for (const [r, threshold, steer] of [[holds!, value - margin, true], [fails!, value + margin, false]] as const) {
          expect(r.chunks[0]!.condition).toMatchObject({ threshold: Math.fround(threshold), steer });
          expect(Math.abs(r.chunks[0]!.condition!.value - value)).toBeLessThan(1e-4);
          expect(r.chunks.slice(1).every((c) => c.condition === undefined)).toBe(true);
        }
        expect(got.slice(2).every((r) => r.chunks.every((c) => c.condition === undefined))).toBe(true);
      }

      // Probe reads the same number the conditional Generate decided on (one prefill chunk: same computation).
      const probed = await e.probe(ProbeRequest.fromPartial({ input: { $case: "prompt", value: prompt }, profile: "refusal-if" }));
      expect(probed.condition).toEqual(alone[0]!.chunks[0]!.condition);
      expect(probed.features.map((f) => f.index)).toEqual(refusal.features.map((f) => f.index));
      expect((await e.probe(ProbeRequest.fromPartial({ input: { $case: "prompt", value: prompt }, profile: "refusal" }))).condition).toBeUndefined();

      // A profile without a condition, and a threshold that is not a number, are refused.
      const bad = async (steering: GenerateRequest["steering"]) => (await runChunks(e, GenerateRequest.fromPartial({ ...request(prompt, 4), steering })).catch((x: unknown) => x)) as SidecarError;
      const noCond = await bad({ profile: "refusal", strength: 1, conditional: true, conditionThreshold: undefined });
      expect(noCond.code).toBe(status.INVALID_ARGUMENT);
      expect(noCond.message).toMatch(/steering profile "refusal" has no condition/);
      for (const t of [NaN, Infinity, -Infinity]) {
        const err = await bad({ profile: "refusal-if", strength: 1, conditional: true, conditionThreshold: t });
        expect(err.code).toBe(status.INVALID_ARGUMENT);
        expect(err.message).toMatch(/condition_threshold must be a finite number/);
      }
    } finally {
      await e.close();
    }
  });

  it("uses an SAE baked at build time as is, and gives the same tokens", async () => {
    const baked = tmp();
    await buildModel({ from: join(SHARED_MODELS, "stories260K"), out: baked, hookLayers: [2], saes: [{ dir: join(dir, "sae-jump") }] });
    const e2 = await Engine.load(baked, { profiles: [join(dir, "refusal.json")] });
    try {
      expect(e2["decoder"].steerLayers).toEqual([2]);
      // nothing to attach: the baked SAE has the profile's hash
      expect(missingSaes(loadProfiles({ files: [join(dir, "refusal.json")] }, e2.manifest).values(), e2.manifest)).toEqual([]);
      expect(e2.manifest.saes?.map((s) => s.layer)).toEqual([2]);
      const r = await run(e2, request("Once upon a time", 24, { profile: "refusal", strength: 1.5 }));
      expect(r.tokens).toEqual(steeredGreedy(w, e2.tokenizer.encode("Once upon a time"), 24, { sae: jump, spec: { ...refusal, strength: 1.5 } }));
    } finally {
      await e2.close();
    }
  });
});
