/**
 * The per-step steering inputs of one hooked layer (names and shapes in
 * ./names.ts), built from what each batch row asks for. Plain typed arrays:
 * the decoder wraps them as onnxruntime tensors.
 */
import { MODE_CODE } from "./names.ts";
import type { ConditionFeature, SteeringFeature, SteeringPositions } from "./profile.ts";

/** A condition still to be decided (conditional steering, ./profile.ts). */
export interface RowCondition {
  features: readonly ConditionFeature[];
  /** Compared in float32 (Math.fround), as the graph does. */
  threshold: number;
}

/**
 * What a condition decides on its value at the last prompt token (the graph's
 * `steer.L{L}.cond`): compared in float32 as the graph compares it, "not
 * below" so that a NaN value steers, as in the graph.
 */
export function conditionOutcome(value: number, threshold: number): { value: number; threshold: number; steer: boolean } {
  const t = Math.fround(threshold);
  return { value, threshold: t, steer: !(value < t) };
}

/** How one row is steered at one layer (absent: not steered, gate 0). */
export interface RowSteering {
  features: readonly SteeringFeature[];
  strength: number;
  positions: SteeringPositions;
  /** Tokens in the row's prompt ("generated" starts at its last position). */
  promptLength: number;
  /**
   * An undecided condition: the row is steered from its last prompt token on
   * only if the condition holds there. It is decided in the step holding
   * that token (earlier steps leave the row alone: gate 0); the caller reads
   * `steer.L{L}.cond` there and from then on passes the row without its
   * condition (steered) or not at all (not steered). Positions "generated" only.
   */
  condition?: RowCondition;
}

export interface LayerStepInputs {
  /** Feature slots per row after padding (at least 1). */
  k: number;
  features: BigInt64Array; // [B, K]
  modes: BigInt64Array; // [B, K]
  values: Float32Array; // [B, K]
  gate: Float32Array; // [B]
  strength: Float32Array; // [B]
  positions: Float32Array; // [B, S]
  condWeights: Float32Array; // [B, K]
  condThreshold: Float32Array; // [B]
}

/**
 * A row's feature slots: its steering features, then the condition's
 * features that are not among them as (index, add, 0), which adds exactly 0;
 * and the condition's weight of each slot.
 */
export function rowSlots(row: Pick<RowSteering, "features" | "condition">): { features: SteeringFeature[]; weights: number[] } {
  const features: SteeringFeature[] = [...row.features];
  const weights = features.map(() => 0);
  for (const c of row.condition?.features ?? []) {
    let j = features.findIndex((f) => f.index === c.index);
    if (j < 0) j = features.push({ index: c.index, mode: "add", value: 0 }) - 1;
    weights[j] = c.weight;
  }
  return { features, weights };
}

/** Whether a step of `seq` tokens from `start` holds the last prompt token of a row with `promptLength`. */
export const holdsLastPromptToken = (promptLength: number, start: number, seq: number) => start <= promptLength - 1 && promptLength - 1 < start + seq;

/**
 * Inputs for a step of `seq` new tokens per row; `starts[b]` is the absolute
 * position of row b's first new token. Unsteered rows get gate 0 (the hook
 * returns their residual bit for bit); rows with fewer than K slots are
 * padded with (index 0, add, 0), which adds exactly nothing. Rows without an
 * undecided condition get condition threshold -Infinity and weights 0 (they
 * always pass); a conditional row counts only in the step that decides it.
 */
export function layerStepInputs(rows: readonly (RowSteering | null | undefined)[], seq: number, starts: readonly number[]): LayerStepInputs {
  const B = rows.length;
  const active = rows.map((r, b) => (r && isActive(r, starts[b]!, seq) ? r : null));
  const slots = active.map((r) => (r ? rowSlots(r) : null));
  const k = Math.max(1, ...slots.map((s) => s?.features.length ?? 0));
  const out: LayerStepInputs = {
    k,
    features: new BigInt64Array(B * k),
    modes: new BigInt64Array(B * k).fill(BigInt(MODE_CODE.add)),
    values: new Float32Array(B * k),
    gate: new Float32Array(B),
    strength: new Float32Array(B).fill(1),
    positions: new Float32Array(B * seq),
    condWeights: new Float32Array(B * k),
    condThreshold: new Float32Array(B).fill(-Infinity),
  };
  active.forEach((r, b) => {
    if (!r) return;
    out.gate[b] = 1;
    out.strength[b] = r.strength;
    const s = slots[b]!;
    s.features.forEach((f, j) => {
      out.features[b * k + j] = BigInt(f.index);
      out.modes[b * k + j] = BigInt(MODE_CODE[f.mode]);
      out.values[b * k + j] = f.value;
      out.condWeights[b * k + j] = s.weights[j]!;
    });
    if (r.condition) out.condThreshold[b] = Math.fround(r.condition.threshold);
    for (let i = 0; i < seq; i++) {
      const on = r.positions === "all" || starts[b]! + i >= r.promptLength - 1;
      out.positions[b * seq + i] = on ? 1 : 0;
    }
  });
  return out;
}

/** False for a conditional row in a step before its last prompt token (nothing to steer or decide yet). */
function isActive(r: RowSteering, start: number, seq: number): boolean {
  if (!r.condition) return true;
  if (r.positions !== "generated") throw new Error('a condition needs positions "generated"');
  if (start > r.promptLength - 1) throw new Error(`a conditional row at position ${start} is past its last prompt token (${r.promptLength - 1}) undecided`);
  return holdsLastPromptToken(r.promptLength, start, seq);
}
