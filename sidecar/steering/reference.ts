/**
 * The steering math in plain TypeScript (../../../shared/DESIGN.md), applied
 * through referenceForward's onResidual hook. It is the specification the
 * ONNX hook (./hook.ts) is tested against; it is not fast.
 *
 * For one position x (the residual stream after block `layer`) and the
 * selected features i (all read from the same, unsteered x):
 *   f_i(x)  = act(W_enc[:, i] . (x - b_dec) + b_enc[i])     (x alone without applyBDecToInput)
 *   clamp c: x' += (s*c - f_i(x)) * d_i                     the SAE reconstruction error is kept
 *   scale k: x' += (k' - 1) * f_i(x) * d_i,  k' = 1 + s*(k - 1)
 *   add c:   x' += s*c * d_i
 * with d_i = W_dec[i, :] and s the row's strength. act: ReLU; JumpReLU (ReLU,
 * and zero unless the pre-activation exceeds threshold[i]); TopK (ReLU, and
 * zero unless the pre-activation is among the k largest over the whole SAE).
 * Positions "all" steer every position; "generated" the last prompt position
 * and every later one.
 *
 * Conditional steering (a profile's `condition`): at the last prompt position
 * the condition's value sum_i w_i f_i(x) is read on the unsteered x; that
 * position and every later one are steered only if the value is not below
 * the threshold (a NaN value steers: fail closed), otherwise none is.
 */
import type { Sae } from "../sae/types.ts";
import type { ConditionFeature, SteeringFeature, SteeringPositions } from "./profile.ts";

/** Pre-activations of every feature: W_enc^T (x - b_dec) + b_enc. */
export function saePreActivations(sae: Sae, x: Float32Array): Float64Array {
  const { dIn: D, dSae: F } = sae;
  const xs = new Float64Array(D);
  for (let d = 0; d < D; d++) xs[d] = sae.applyBDecToInput ? x[d] - sae.bDec[d] : x[d];
  const pre = new Float64Array(F);
  for (let i = 0; i < F; i++) pre[i] = sae.bEnc[i];
  for (let d = 0; d < D; d++) {
    const row = d * F;
    const v = xs[d];
    for (let i = 0; i < F; i++) pre[i] += sae.wEnc[row + i] * v;
  }
  return pre;
}

/** Pre-activation of one feature only (ReLU / JumpReLU need no others). */
function preActivation(sae: Sae, x: Float32Array, i: number): number {
  const { dIn: D, dSae: F } = sae;
  let s = sae.bEnc[i];
  for (let d = 0; d < D; d++) s += sae.wEnc[d * F + i] * (sae.applyBDecToInput ? x[d] - sae.bDec[d] : x[d]);
  return s;
}

/**
 * The activations f_i(x) of the given features. TopK computes every
 * pre-activation and keeps feature i only if it is among the k largest
 * (ties broken by lower index).
 */
export function saeEncodeFeatures(sae: Sae, x: Float32Array, indices: readonly number[]): number[] {
  if (sae.architecture === "topk") {
    const k = sae.k ?? 0;
    const pre = saePreActivations(sae, x);
    const order = Array.from(pre.keys()).sort((a, b) => pre[b] - pre[a] || a - b);
    const top = new Set(order.slice(0, k));
    return indices.map((i) => (top.has(i) ? Math.max(pre[i], 0) : 0));
  }
  return indices.map((i) => {
    const pre = preActivation(sae, x, i);
    if (sae.architecture === "jumprelu") return pre > sae.threshold![i] ? Math.max(pre, 0) : 0;
    return Math.max(pre, 0);
  });
}

export interface SteeringSpec {
  layer: number;
  positions: SteeringPositions;
  features: readonly SteeringFeature[];
  /** Multiplies the profile's values (DESIGN.md). Default 1. */
  strength?: number;
  /** Steer only if this holds at the last prompt position (positions "generated"). */
  condition?: { features: readonly ConditionFeature[]; threshold: number };
}

/** The condition's value at one residual vector: sum_i weight_i * f_i(x). */
export function conditionValue(sae: Sae, features: readonly ConditionFeature[], x: Float32Array): number {
  const f = saeEncodeFeatures(sae, x, features.map((c) => c.index));
  return features.reduce((sum, c, j) => sum + c.weight * f[j]!, 0);
}

/** What a condition decided: its value and whether the row is steered. */
export interface ReferenceOutcome {
  value: number;
  steer: boolean;
}

/** Applies the steering of `spec` to one residual vector in place. */
export function steerVector(sae: Sae, spec: SteeringSpec, x: Float32Array): void {
  const s = spec.strength ?? 1;
  const D = sae.dIn;
  const f = saeEncodeFeatures(sae, x, spec.features.map((ft) => ft.index));
  const delta = new Float64Array(D);
  spec.features.forEach((ft, j) => {
    let coef: number;
    if (ft.mode === "clamp") coef = s * ft.value - f[j];
    else if (ft.mode === "scale") coef = (1 + s * (ft.value - 1) - 1) * f[j];
    else coef = s * ft.value;
    const row = ft.index * D;
    for (let d = 0; d < D; d++) delta[d] += coef * sae.wDec[row + d];
  });
  for (let d = 0; d < D; d++) x[d] += delta[d];
}

/**
 * An onResidual hook for referenceForward that steers `spec.layer`.
 * `promptLength` locates the generated positions (positions are absolute:
 * the hook sees pos = 0, 1, ... of the sequence). With `spec.condition` the
 * hook decides at pos = promptLength - 1 and reports it to `onCondition`.
 */
export function steeringHook(
  sae: Sae,
  spec: SteeringSpec,
  promptLength: number,
  onCondition?: (outcome: ReferenceOutcome) => void,
): (layer: number, pos: number, x: Float32Array) => void {
  if (spec.condition && spec.positions !== "generated") throw new Error('a condition needs positions "generated"');
  let steer = !spec.condition;
  return (layer, pos, x) => {
    if (layer !== spec.layer) return;
    if (spec.positions === "generated" && pos < promptLength - 1) return;
    if (spec.condition && pos === promptLength - 1) {
      const value = conditionValue(sae, spec.condition.features, x);
      steer = !(value < spec.condition.threshold);
      onCondition?.({ value, steer });
    }
    if (steer) steerVector(sae, spec, x);
  };
}
