/**
 * Seeded random SAEs and onnxruntime helpers for steering tests and benchmarks.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { saveSaeLens } from "../sae/load.ts";
import { gaussian, mulberry32 } from "../model/random-model.ts";
import { steeringTensors } from "../engine/decoder.ts";
import { runStep, type Past } from "../model/graph/test-support.ts";
import type { LlamaConfig } from "../model/weights.ts";
import type { Sae, SaeArchitecture } from "../sae/types.ts";
import type { LayerStepInputs } from "./inputs.ts";
import { buildLlamaGraph } from "../model/graph/llama-graph.ts";
import { residPost } from "../model/graph/names.ts";
import { writeModel } from "../model/graph/write-model.ts";
import type { LlamaWeights } from "../model/weights.ts";
import { tempDir } from "../../test/support/tmp.ts";
import { addHooksToBuilder, type HookSpec } from "./hook.ts";
import { newKvCache, referenceForward } from "../model/reference.ts";
import type { ConditionFeature } from "./profile.ts";
import { conditionValue, saeEncodeFeatures } from "./reference.ts";

/**
 * A random SAE: encoder columns ~ N(0, 1/dIn), decoder rows of unit norm,
 * small biases; JumpReLU thresholds in [0.2, 1.2] (they zero a good share of
 * positive pre-activations on unit-scale residuals); TopK keeps `k` of dSae.
 */
export function randomSae(architecture: SaeArchitecture, dIn: number, dSae: number, seed = 1, opts: { k?: number; applyBDecToInput?: boolean; layer?: number } = {}): Sae {
  const rand = mulberry32(seed);
  const normal = gaussian(rand);
  const arr = (n: number, scale: number) => Float32Array.from({ length: n }, () => scale * normal());
  const wDec = arr(dSae * dIn, 1);
  for (let i = 0; i < dSae; i++) {
    let n = 0;
    for (let d = 0; d < dIn; d++) n += wDec[i * dIn + d] ** 2;
    n = Math.sqrt(n);
    for (let d = 0; d < dIn; d++) wDec[i * dIn + d] /= n;
  }
  return {
    architecture,
    dIn,
    dSae,
    wEnc: arr(dIn * dSae, 1 / Math.sqrt(dIn)),
    bEnc: arr(dSae, 0.1),
    wDec,
    bDec: arr(dIn, 0.1),
    threshold: architecture === "jumprelu" ? Float32Array.from({ length: dSae }, () => 0.2 + rand()) : undefined,
    k: architecture === "topk" ? (opts.k ?? 8) : undefined,
    applyBDecToInput: opts.applyBDecToInput ?? true,
    layer: opts.layer,
    source: `random-${architecture}-${seed}`,
  };
}

export type SteerFeeds = Record<number, LayerStepInputs>;

/** An onnxruntime session over `w`'s graph with `hooks` added (the builder's path). */
export async function hookedSession(w: LlamaWeights, hooks: HookSpec[]) {
  const g = buildLlamaGraph(w);
  addHooksToBuilder(g, hooks, residPost, w.config.dModel);
  const file = join(tempDir("sg-hook-"), "model.onnx");
  writeModel(g, file);
  return ort.InferenceSession.create(file, { graphOptimizationLevel: "all" });
}

/** The same model without any hook. */
export async function plainSession(w: LlamaWeights) {
  const file = join(tempDir("sg-plain-"), "model.onnx");
  writeModel(buildLlamaGraph(w), file);
  return ort.InferenceSession.create(file, { graphOptimizationLevel: "all" });
}

/** graph/test-support's runStep, with steering inputs per hooked layer. */
export function runSteeredStep(session: ort.InferenceSession, c: LlamaConfig, ids: number[][], positions: number[][], mask: number[][], past: Past, steer: SteerFeeds) {
  const extra: Record<string, ort.Tensor> = {};
  for (const [layer, t] of Object.entries(steer)) Object.assign(extra, steeringTensors(Number(layer), t, ids.length, ids[0].length));
  return runStep(session, c, ids, positions, mask, past, extra);
}

/**
 * Two seeded random SAEs for stories260K (d_model 64) and a profile on each,
 * written into `dir` (sae-jump/, sae-topk/, refusal.json, boost.json):
 * "refusal" (JumpReLU at layer 2, positions generated, add + clamp + scale) and
 * "boost" (TopK at layer 3, positions all, add + clamp).
 */
export function writeStoriesProfiles(dir: string) {
  const jump = randomSae("jumprelu", 64, 128, 21, { layer: 2 });
  const topk = randomSae("topk", 64, 96, 22, { k: 12, layer: 3 });
  const refusal = { name: "refusal", sae: "sae-jump", layer: 2, positions: "generated", features: [{ index: 4, mode: "add", value: 12 }, { index: 9, mode: "clamp", value: 6 }, { index: 17, mode: "scale", value: 3 }], description: "test" } as const;
  const boost = { name: "boost", sae: "sae-topk", layer: 3, positions: "all", features: [{ index: 1, mode: "add", value: 8 }, { index: 30, mode: "clamp", value: 3 }] } as const;
  saveSaeLens(join(dir, "sae-jump"), jump);
  saveSaeLens(join(dir, "sae-topk"), topk);
  writeFileSync(join(dir, "refusal.json"), JSON.stringify(refusal));
  writeFileSync(join(dir, "boost.json"), JSON.stringify(boost));
  return { jump, topk, refusal, boost };
}

/**
 * A condition for `sae` at `layer` on the prompt `ids`: the features most
 * active at its last token (one per weight, leaving out `exclude`), and the
 * reference's value of the condition there (on the unsteered residual).
 */
export function conditionAt(w: LlamaWeights, sae: Sae, layer: number, ids: number[], exclude: readonly number[], weights = [1, 0.5]): { features: ConditionFeature[]; value: number } {
  const x = referenceForward(w, newKvCache(w), ids, { keepResiduals: true }).residuals[layer]!.at(-1)!;
  const all = Array.from({ length: sae.dSae }, (_, i) => i);
  const f = saeEncodeFeatures(sae, x, all);
  const order = all.filter((i) => !exclude.includes(i)).sort((a, b) => f[b]! - f[a]!);
  const features = weights.map((weight, j) => ({ index: order[j]!, weight }));
  return { features, value: conditionValue(sae, features, x) };
}
