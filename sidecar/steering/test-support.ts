/**
 * Seeded random SAEs and onnxruntime helpers for steering tests and benchmarks.
 */
import * as ort from "onnxruntime-node";
import { gaussian, mulberry32 } from "../model/random-model.ts";
import { steeringTensors } from "../engine/decoder.ts";
import { runStep, type Past } from "../model/graph/test-support.ts";
import type { LlamaConfig } from "../model/weights.ts";
import type { Sae, SaeArchitecture } from "../sae/types.ts";
import type { LayerStepInputs } from "./inputs.ts";

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



/** graph/test-support's runStep, with steering inputs per hooked layer. */
export function runSteeredStep(session: ort.InferenceSession, c: LlamaConfig, ids: number[][], positions: number[][], mask: number[][], past: Past, steer: SteerFeeds) {
  const extra: Record<string, ort.Tensor> = {};
  for (const [layer, t] of Object.entries(steer)) Object.assign(extra, steeringTensors(Number(layer), t, ids.length, ids[0].length));
  return runStep(session, c, ids, positions, mask, past, extra);
}
