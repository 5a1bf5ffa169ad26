/**
 * The families of archref.test.ts built with fused attention (`build-model
 * --attention gqa`, onnxruntime's GroupQueryAttention): every fixture in
 * ../shared/models/archref whose head size the kernel takes (a multiple of
 * 8: all seven, head sizes 16 and 24; Mistral and Gemma 2 bring sliding
 * windows, Gemma 2 soft-capping and its attention scale, Llama 3 and Phi-3
 * their rope) against what transformers computes:
 *
 * - one prompt through the engine's decoder (a whole-prompt prefill): logits
 *   at every position within 2e-3 of transformers', with the same argmax;
 * - the engine's scheduler (left-aligned cache, gqa-kv-cache.ts) reproduces
 *   the 20 greedy reference tokens, each prompt alone, all prompts batched,
 *   and batched with prompts prefilled in chunks of 3 tokens.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../../test/support/tmp.ts";
import { OnnxDecoder } from "../engine/decoder.ts";
import { schedulerGreedy } from "../engine/test-support.ts";
import { DEFAULT_PREFILL_YIELD } from "../engine/prefill.ts";
import { argmaxOf, listArchref, maxAbs, readArchref, type ArchrefFixture } from "./archref.ts";
import { buildModel } from "./build.ts";
import { gqaUnsupported } from "./graph/llama-graph.ts";
import type { Manifest } from "./manifest.ts";

const LOGITS_TOL = 2e-3;

const fixtures = listArchref();

it("finds the fixtures of Llama and Mistral at least, whose head sizes fused attention takes", () => {
  const names = fixtures.map((f) => f.name);
  expect(names).toEqual(expect.arrayContaining(process.env.STEERGUARD_ARCHREF ? [] : ["llama", "mistral"]));
});

describe.each(fixtures)("$name with fused attention (gqa) matches transformers", ({ name, dir }) => {
  let fx: ArchrefFixture;
  let modelDir: string;
  let manifest: Manifest;
  let decoder: OnnxDecoder;
  let skip = false;
  beforeAll(async () => {
    fx = readArchref(dir, name);
    modelDir = tempDir(`sg-archref-gqa-${name}-`);
    try {
      manifest = (await buildModel({ from: dir, out: modelDir, attention: "gqa" })).manifest;
    } catch (err) {
      // Only a head size the kernel refuses may keep a family on the plain graph.
      if (!/multiple of 8/.test((err as Error).message)) throw err;
      skip = true;
      return;
    }
    expect(gqaUnsupported(manifest.dims)).toBeNull();
    expect(manifest.graph.attention).toBe("gqa");
    decoder = await OnnxDecoder.load(modelDir, manifest, { intraOpThreads: 1 });
  });
  afterAll(() => decoder?.release());

  it("logits at every position and their argmax, from a whole-prompt prefill", async (ctx) => {
    if (skip) return ctx.skip();
    const V = manifest.dims.vocabSize;
    for (const [s, seq] of fx.sequences.entries()) {
      const out = await decoder.prefill(seq.input_ids);
      seq.input_ids.forEach((_, i) => {
        const l = out.logits.subarray(i * V, (i + 1) * V);
        expect(maxAbs(l, seq.logits[i]!), `prompt ${s} position ${i} logits`).toBeLessThan(LOGITS_TOL);
        expect(argmaxOf(l), `prompt ${s} position ${i} argmax`).toBe(seq.argmax[i]);
      });
    }
  });

  it("the scheduler reproduces the greedy reference tokens: alone, batched, and batched with chunked prefill", async (ctx) => {
    if (skip) return ctx.skip();
    const prompts = fx.sequences.map((s) => s.input_ids);
    const want = fx.sequences.map((s) => s.greedy.reference_tokens);
    const steps = want[0]!.length;
    for (const [i, p] of prompts.entries()) expect((await schedulerGreedy(decoder, modelDir, manifest, [p], steps))[0], `prompt ${i} alone`).toEqual(want[i]);
    expect(await schedulerGreedy(decoder, modelDir, manifest, prompts, steps), "all prompts in one batch").toEqual(want);
    expect(await schedulerGreedy(decoder, modelDir, manifest, prompts, steps, { chunk: 3, stepTokens: 3 + prompts.length, yieldSteps: DEFAULT_PREFILL_YIELD, idleChunk: 3 }), "batched, prompts in chunks of 3").toEqual(want);
  });
});
