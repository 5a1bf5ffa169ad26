/**
 * The ONNX steering hook against the plain-TypeScript steering math: seeded
 * random tiny models (both rotary conventions, GQA) and seeded random SAEs of
 * every architecture; clamp, scale and add; positions all and generated; a
 * prefill then cached decode steps. A zero gate is bit-exact.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { DEFAULT_ARCHREF } from "../model/archref.ts";
import { buildModel } from "../model/build.ts";
import { loadHf } from "../model/hf.ts";
import { saveSaeLens } from "../sae/load.ts";
import { encodeNpy } from "../sae/npy.ts";
import { writeNpz } from "../sae/npz.ts";
import { emptyPast, maxAbsDiff, runStep } from "../model/graph/test-support.ts";
import { randomLlama } from "../model/random-model.ts";
import { newKvCache, referenceForward } from "../model/reference.ts";
import type { LlamaConfig, LlamaWeights } from "../model/weights.ts";
import type { Sae, SaeArchitecture } from "../sae/types.ts";
import { layerStepInputs, type RowSteering } from "./inputs.ts";
import { steerActs } from "./names.ts";
import type { SteeringFeature, SteeringMode, SteeringPositions } from "./profile.ts";
import { saeEncodeFeatures, saePreActivations, steeringHook } from "./reference.ts";
import { hookedSession, plainSession, randomSae, runSteeredStep, type SteerFeeds } from "./test-support.ts";
import { tempDir } from "../../test/support/tmp.ts";

const TOL = 1e-4;
const PROMPT = [1, 17, 3, 42, 8, 25, 11];
const DECODE = [5, 49, 0, 33];
const LAYER = 1;
const OTHER = 2; // a second hooked layer, never steered here (gate 0)

/** Features with the largest mean activation on the prompt's layer-L residuals, plus a quiet one. */
function pickFeatures(w: LlamaWeights, sae: Sae, prompt = PROMPT): number[] {
  const res = referenceForward(w, newKvCache(w), prompt, { keepResiduals: true }).residuals[LAYER];
  const all = Array.from({ length: sae.dSae }, (_, i) => i);
  const mean = new Float64Array(sae.dSae);
  for (const x of res) saeEncodeFeatures(sae, x, all).forEach((f, i) => (mean[i] += f / res.length));
  const order = all.sort((a, b) => mean[b] - mean[a]);
  return [order[0], order[1], order[order.length - 1]];
}

const VALUES: Record<SteeringMode, number[]> = { clamp: [4, 0, 2.5], scale: [3, 0, -1], add: [2, -3, 1.5] };

/** Steered logits: graph (batch 1, prefill + cached decode steps) vs reference, per position. */
async function compare(session: ort.InferenceSession, w: LlamaWeights, sae: Sae, row: RowSteering, prompt = PROMPT, decode = DECODE) {
  const c = w.config;
  const spec = { layer: LAYER, positions: row.positions, features: row.features, strength: row.strength };
  const cache = newKvCache(w);
  const hook = steeringHook(sae, spec, prompt.length);
  const ref = [...referenceForward(w, cache, prompt, { onResidual: hook }).logits];
  const feeds = (seq: number, start: number): SteerFeeds => ({
    [LAYER]: layerStepInputs([row], seq, [start]),
    [OTHER]: layerStepInputs([null], seq, [start]),
  });
  let r = await runSteeredStep(session, c, [prompt], [prompt.map((_, i) => i)], [prompt.map(() => 1)], emptyPast(c, 1), feeds(prompt.length, 0));
  expect(r.outputs[steerActs(LAYER)].dims).toEqual([1, prompt.length, row.features.length]);
  const got = [...r.logits[0]];
  let len = prompt.length;
  for (const tok of decode) {
    ref.push(referenceForward(w, cache, [tok], { onResidual: hook }).logits[0]);
    r = await runSteeredStep(session, c, [[tok]], [[len]], [Array(len + 1).fill(1)], r.past, feeds(1, len));
    got.push(r.logits[0][0]);
    len++;
  }
  return { ref, got };
}

function unsteeredReference(w: LlamaWeights): Float32Array[] {
  const cache = newKvCache(w);
  const out = [...referenceForward(w, cache, PROMPT).logits];
  for (const tok of DECODE) out.push(referenceForward(w, cache, [tok]).logits[0]);
  return out;
}

const ARCHS: SaeArchitecture[] = ["relu", "jumprelu", "topk"];
const MODELS: [string, Partial<LlamaConfig>][] = [
  ["half rotary, GQA 4/2", { rotary: "half", nLayers: 3 }],
  ["interleaved rotary, GQA 4/1, biases", { rotary: "interleaved", nLayers: 3, nKvHeads: 1, qkvBias: true }],
];

describe("steering hook vs reference", () => {
  for (const [mi, [modelName, over]] of MODELS.entries()) {
    for (const [ai, arch] of ARCHS.entries()) {
      it(`${modelName}, ${arch} SAE: clamp/scale/add x all/generated agree to 1e-4; gate 0 is bit-exact`, async () => {
        const w = randomLlama(over, 300 + mi);
        const D = w.config.dModel;
        const sae = randomSae(arch, D, 64, 40 + ai, { applyBDecToInput: ai !== 1 });
        const other = randomSae("relu", D, 16, 99);
        const session = await hookedSession(w, [{ layer: LAYER, sae }, { layer: OTHER, sae: other }]);
        const features = pickFeatures(w, sae);

        // The architecture's activation must matter on this data.
        const res = referenceForward(w, newKvCache(w), PROMPT, { keepResiduals: true }).residuals[LAYER];
        const pres = res.map((x) => saePreActivations(sae, x));
        const acts = res.map((x) => saeEncodeFeatures(sae, x, features));
        if (arch === "jumprelu") {
          // some positive pre-activations of selected features fall below their threshold, some above
          const bites = pres.some((p) => features.some((i) => p[i] > 0 && p[i] <= sae.threshold![i]));
          const passes = acts.some((a) => a.some((f) => f > 0));
          expect(bites && passes).toBe(true);
        }
        if (arch === "topk") {
          // some selected features are positive but cut by the top-k selection
          const cut = pres.some((p, t) => features.some((i, j) => p[i] > 0 && acts[t][j] === 0));
          expect(cut).toBe(true);
          expect(acts.some((a) => a.some((f) => f > 0))).toBe(true);
        }

        const plain = unsteeredReference(w);
        for (const mode of ["clamp", "scale", "add"] as SteeringMode[]) {
          for (const positions of ["all", "generated"] as SteeringPositions[]) {
            const feats: SteeringFeature[] = features.map((index, j) => ({ index, mode, value: VALUES[mode][j] }));
            const row: RowSteering = { features: feats, strength: positions === "all" ? 1 : 1.5, positions, promptLength: PROMPT.length };
            const { ref, got } = await compare(session, w, sae, row);
            got.forEach((g, t) => expect(maxAbsDiff(g, ref[t]), `${mode}/${positions} position ${t}`).toBeLessThan(TOL));
            // Steering really changed the logits (and "generated" left the early prompt alone).
            expect(Math.max(...ref.map((l, t) => maxAbsDiff(l, plain[t])))).toBeGreaterThan(1e-2);
            if (positions === "generated") expect(maxAbsDiff(ref[0], plain[0])).toBe(0);
          }
        }

        // gate 0 (features set, strength set): the logits of the model built without any hook, bit for bit
        const base = await plainSession(w);
        const c = w.config;
        const row: RowSteering = { features: features.map((index) => ({ index, mode: "add", value: 5 })), strength: 2, positions: "all", promptLength: PROMPT.length };
        const off = (seq: number, start: number): SteerFeeds => {
          const t = layerStepInputs([row], seq, [start]);
          t.gate.fill(0);
          return { [LAYER]: t, [OTHER]: layerStepInputs([null], seq, [start]) };
        };
        let a = await runSteeredStep(session, c, [PROMPT], [PROMPT.map((_, i) => i)], [PROMPT.map(() => 1)], emptyPast(c, 1), off(PROMPT.length, 0));
        let b = await runStep(base, c, [PROMPT], [PROMPT.map((_, i) => i)], [PROMPT.map(() => 1)], emptyPast(c, 1));
        // every gate 0: the If skipped the hook's work (no activations computed)
        expect(a.outputs[steerActs(LAYER)].dims).toEqual([0, 0, 0]);
        a.logits[0].forEach((l, t) => expect(Buffer.compare(Buffer.from(l.buffer), Buffer.from(b.logits[0][t].buffer))).toBe(0));
        let len = PROMPT.length;
        for (const tok of DECODE) {
          a = await runSteeredStep(session, c, [[tok]], [[len]], [Array(len + 1).fill(1)], a.past, off(1, len));
          b = await runStep(base, c, [[tok]], [[len]], [Array(len + 1).fill(1)], b.past);
          expect(Buffer.compare(Buffer.from(a.logits[0][0].buffer), Buffer.from(b.logits[0][0].buffer))).toBe(0);
          len++;
        }
      });
    }
  }
});

/**
 * The families' own math around the hook (Gemma 2's sandwich norms, soft-caps
 * and sliding windows; Llama 3's rope scaling): transformers-checked fixtures
 * (../shared/models/archref, see sidecar/model/archref.test.ts) built by
 * buildModel with a JumpReLU SAE baked in (Gemma Scope params.npz for gemma2,
 * SAELens for llama3-rope; Gemma Scope subtracts no b_dec), steered
 * through a prompt longer than Gemma 2's 16-token window.
 */
/** A Gemma Scope folder: params.npz with W_enc [d_in, d_sae], W_dec, b_enc, b_dec, threshold. */
function writeGemmaScope(dir: string, sae: Sae): void {
  mkdirSync(dir, { recursive: true });
  writeNpz(join(dir, "params.npz"), {
    W_enc: encodeNpy([sae.dIn, sae.dSae], sae.wEnc),
    W_dec: encodeNpy([sae.dSae, sae.dIn], sae.wDec),
    b_enc: encodeNpy([sae.dSae], sae.bEnc),
    b_dec: encodeNpy([sae.dIn], sae.bDec),
    threshold: encodeNpy([sae.dSae], sae.threshold!),
  });
}

describe("steering a JumpReLU SAE baked into the gemma2 and llama3-rope fixtures", () => {
  const LONG = Array.from({ length: 19 }, (_, i) => 1 + ((i * 37) % 500));
  const MORE = [7, 300, 45, 2, 99];
  it.each(["gemma2", "llama3-rope"])("%s: clamp/scale/add x all/generated agree with the reference to 1e-4", async (name) => {
    const from = join(DEFAULT_ARCHREF, name);
    const w = loadHf(from).weights;
    const sae = randomSae("jumprelu", w.config.dModel, 96, 77, { applyBDecToInput: false, layer: LAYER });
    const root = tempDir(`sg-family-hook-${name}-`);
    // gemma2: as a Gemma Scope release lays it out (params.npz under layer_L/); llama3: SAELens
    const saeDir = name === "gemma2" ? join(root, "gemma-scope-2b-pt-res", `layer_${LAYER}`, "width_16k", "average_l0_71") : join(root, "sae");
    if (name === "gemma2") writeGemmaScope(saeDir, sae);
    else saveSaeLens(saeDir, sae);
    const logs: string[] = [];
    const built = await buildModel({ from, out: join(root, "model"), saes: [{ dir: saeDir }], hookLayers: [OTHER], log: (m) => logs.push(m) });
    expect(built.manifest.saes).toEqual([expect.objectContaining({ layer: LAYER, architecture: "jumprelu", dSae: 96 })]);
    expect(logs.join("\n")).toMatch(name === "gemma2" ? /Gemma Scope params\.npz: JumpReLU, d_in 64, d_sae 96, layer 1 \(blocks\.1\.hook_resid_post\)/ : /JumpReLU, d_in 64, d_sae 96, layer 1/);
    const session = await ort.InferenceSession.create(built.modelFile);
    const baked = { ...sae, source: saeDir };
    const features = pickFeatures(w, baked, LONG);
    for (const mode of ["clamp", "scale", "add"] as SteeringMode[]) {
      for (const positions of ["all", "generated"] as SteeringPositions[]) {
        const feats: SteeringFeature[] = features.map((index, j) => ({ index, mode, value: VALUES[mode][j] }));
        const row: RowSteering = { features: feats, strength: 1.25, positions, promptLength: LONG.length };
        const { ref, got } = await compare(session, w, baked, row, LONG, MORE);
        got.forEach((g, t) => expect(maxAbsDiff(g, ref[t]), `${mode}/${positions} position ${t}`).toBeLessThan(TOL));
        const plain = referenceForward(w, newKvCache(w), [...LONG, ...MORE]).logits;
        expect(Math.max(...ref.map((l, t) => maxAbsDiff(l, plain[t])))).toBeGreaterThan(1e-2);
      }
    }
  });
});
