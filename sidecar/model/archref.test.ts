/**
 * Every family we claim, against what Hugging Face transformers computes
 * (../shared/models/archref: seven tiny random checkpoints with reference.json;
 * STEERGUARD_ARCHREF=DIR runs the same checks on another set). Per fixture:
 *
 * - `build-model --from DIR` (buildModel) builds it; the graph's logits at every
 *   position are within 2e-3 of transformers', with the same argmax everywhere;
 *   the residual stream after every block (the hook's tensor) is within 1e-3
 *   relative of transformers' block outputs (all positions of prompt 0, the
 *   last position of every prompt) and of output_hidden_states[L + 1];
 * - the engine's scheduler, with its KV cache, reproduces the 20 greedy
 *   reference tokens, each prompt alone and all prompts batched (left-padded);
 * - the plain-TypeScript reference forward pass (the oracle the steering tests
 *   use) agrees with transformers too.
 */
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OnnxDecoder } from "../engine/decoder.ts";
import { schedulerGreedy } from "../engine/test-support.ts";
import { argmaxOf, listArchref, maxAbs, maxRel, readArchref, type ArchrefFixture } from "./archref.ts";
import { buildModel } from "./build.ts";
import { residPost } from "./graph/names.ts";
import { loadHf } from "./hf.ts";
import type { Manifest } from "./manifest.ts";
import { newKvCache, referenceForward } from "./reference.ts";
import { tempDir } from "../../test/support/tmp.ts";

const LOGITS_TOL = 2e-3;
const RESID_REL_TOL = 1e-3;

const fixtures = listArchref();

it("finds the reference fixtures", () => {
  // CI has ../shared; all seven families must be there (another set may hold more).
  expect(fixtures.map((f) => f.name)).toEqual(expect.arrayContaining(process.env.STEERGUARD_ARCHREF ? [] : ["gemma", "gemma2", "llama", "llama3-rope", "mistral", "phi3", "qwen2"]));
  expect(fixtures.length).toBeGreaterThan(0);
});

/** One full forward pass of a prompt (no cache): logits [S, V] and every block's residual [S, D]. */
async function forward(session: ort.InferenceSession, m: Manifest, ids: number[]) {
  const n = ids.length;
  const { nLayers, nKvHeads, headDim, vocabSize: V, dModel: D } = m.dims;
  const i64 = (a: number[]) => new ort.Tensor("int64", BigInt64Array.from(a.map(BigInt)), [1, n]);
  const feeds: Record<string, ort.Tensor> = {
    input_ids: i64(ids),
    position_ids: i64(ids.map((_, i) => i)),
    attention_mask: i64(ids.map(() => 1)),
  };
  const empty = () => new ort.Tensor("float32", new Float32Array(0), [1, nKvHeads, 0, headDim]);
  for (let l = 0; l < nLayers; l++) Object.assign(feeds, { [`past_key_values.${l}.key`]: empty(), [`past_key_values.${l}.value`]: empty() });
  const out = await session.run(feeds);
  const logits = out.logits!.data as Float32Array;
  return {
    logits: Array.from({ length: n }, (_, i) => logits.subarray(i * V, (i + 1) * V)),
    resid: Array.from({ length: nLayers }, (_, l) => {
      const r = out[residPost(l)]!.data as Float32Array;
      return Array.from({ length: n }, (_, i) => r.subarray(i * D, (i + 1) * D));
    }),
  };
}


describe.each(fixtures)("$name matches transformers", ({ name, dir }) => {
  let fx: ArchrefFixture;
  let modelDir: string;
  let manifest: Manifest;
  let session: ort.InferenceSession;
  beforeAll(async () => {
    fx = readArchref(dir, name);
    modelDir = tempDir(`sg-archref-${name}-`);
    manifest = (await buildModel({ from: dir, out: modelDir, residualOutputs: true })).manifest;
    session = await ort.InferenceSession.create(join(modelDir, manifest.graph.file), { intraOpNumThreads: 1 });
  });
  afterAll(() => session?.release());

  it("built graph: logits at every position, argmax, and every block's residual stream", async () => {
    for (const [s, seq] of fx.sequences.entries()) {
      const got = await forward(session, manifest, seq.input_ids);
      got.logits.forEach((l, i) => {
        expect(maxAbs(l, seq.logits[i]!), `prompt ${s} position ${i} logits`).toBeLessThan(LOGITS_TOL);
        expect(argmaxOf(l), `prompt ${s} position ${i} argmax`).toBe(seq.argmax[i]);
      });
      const last = seq.input_ids.length - 1;
      const nLayers = manifest.dims.nLayers;
      seq.block_outputs_last_pos.forEach((want, L) => {
        expect(maxRel(got.resid[L]![last]!, want), `prompt ${s} block ${L} last position`).toBeLessThan(RESID_REL_TOL);
      });
      // output_hidden_states[L + 1] is block L's output for every block but the last (HF normalises that one).
      for (let L = 0; L < nLayers - 1; L++) {
        expect(maxRel(got.resid[L]![last]!, seq.hf_hidden_states_last_pos[L + 1]!), `prompt ${s} hidden_states[${L + 1}]`).toBeLessThan(RESID_REL_TOL);
      }
      seq.block_outputs_all_pos?.forEach((positions, L) => {
        positions.forEach((want, i) => expect(maxRel(got.resid[L]![i]!, want), `prompt ${s} block ${L} position ${i}`).toBeLessThan(RESID_REL_TOL));
      });
    }
  });

  it("engine with its KV cache reproduces the greedy reference tokens, alone and batched", async () => {
    const prompts = fx.sequences.map((s) => s.input_ids);
    const want = fx.sequences.map((s) => s.greedy.reference_tokens);
    const steps = want[0]!.length;
    const decoder = await OnnxDecoder.load(modelDir, manifest, { intraOpThreads: 1 });
    try {
      for (const [i, p] of prompts.entries()) expect((await schedulerGreedy(decoder, modelDir, manifest, [p], steps))[0], `prompt ${i} alone`).toEqual(want[i]);
      expect(await schedulerGreedy(decoder, modelDir, manifest, prompts, steps), "all prompts in one batch").toEqual(want);
    } finally {
      await decoder.release();
    }
  });

  it("plain-TypeScript reference forward pass agrees with transformers", () => {
    const w = loadHf(dir).weights;
    for (const seq of fx.sequences) {
      const r = referenceForward(w, newKvCache(w), seq.input_ids);
      r.logits.forEach((l, i) => expect(maxAbs(l, seq.logits[i]!)).toBeLessThan(LOGITS_TOL));
    }
  });
});
