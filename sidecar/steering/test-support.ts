/**
 * Seeded random SAEs and onnxruntime helpers for steering tests and benchmarks.
 */
import * as ort from "onnxruntime-node";
import { gaussian, mulberry32 } from "../model/random-model.ts";
import type { Past } from "../model/graph/test-support.ts";
import * as N from "../model/graph/names.ts";
import type { LlamaConfig } from "../model/weights.ts";
import type { Sae, SaeArchitecture } from "../sae/types.ts";
import type { LayerStepInputs } from "./inputs.ts";
import * as S from "./names.ts";

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

/** ort tensors for one layer's steering inputs. */
export function steerTensors(layer: number, t: LayerStepInputs, batch: number, seq: number): Record<string, ort.Tensor> {
  return {
    [S.steerFeatures(layer)]: new ort.Tensor("int64", t.features, [batch, t.k]),
    [S.steerModes(layer)]: new ort.Tensor("int64", t.modes, [batch, t.k]),
    [S.steerValues(layer)]: new ort.Tensor("float32", t.values, [batch, t.k]),
    [S.steerGate(layer)]: new ort.Tensor("float32", t.gate, [batch]),
    [S.steerStrength(layer)]: new ort.Tensor("float32", t.strength, [batch]),
    [S.steerPositions(layer)]: new ort.Tensor("float32", t.positions, [batch, seq]),
  };
}

const i64 = (rows: number[][]) => new ort.Tensor("int64", BigInt64Array.from(rows.flat().map(BigInt)), [rows.length, rows[0].length]);

/** Like graph/test-support's runStep, with steering inputs per hooked layer. */
export async function runSteeredStep(session: ort.InferenceSession, c: LlamaConfig, ids: number[][], positions: number[][], mask: number[][], past: Past, steer: SteerFeeds) {
  const B = ids.length;
  const Sq = ids[0].length;
  const feeds: Record<string, ort.Tensor> = {
    [N.INPUT_IDS]: i64(ids),
    [N.POSITION_IDS]: i64(positions),
    [N.ATTENTION_MASK]: i64(mask),
  };
  for (let l = 0; l < c.nLayers; l++) {
    feeds[N.pastKey(l)] = past.keys[l];
    feeds[N.pastValue(l)] = past.values[l];
  }
  for (const [layer, t] of Object.entries(steer)) Object.assign(feeds, steerTensors(Number(layer), t, B, Sq));
  const out = await session.run(feeds);
  const data = out[N.LOGITS].data as Float32Array;
  const V = c.vocabSize;
  const logits = Array.from({ length: B }, (_, b) => Array.from({ length: Sq }, (_, s) => data.slice((b * Sq + s) * V, (b * Sq + s + 1) * V)));
  const next: Past = {
    keys: Array.from({ length: c.nLayers }, (_, l) => out[N.presentKey(l)]),
    values: Array.from({ length: c.nLayers }, (_, l) => out[N.presentValue(l)]),
  };
  return { logits, past: next, outputs: out };
}
