/**
 * The per-step steering inputs of one hooked layer (names and shapes in
 * ./names.ts), built from what each batch row asks for. Plain typed arrays:
 * the decoder wraps them as onnxruntime tensors.
 */
import { MODE_CODE } from "./names.ts";
import type { SteeringFeature, SteeringPositions } from "./profile.ts";

/** How one row is steered at one layer (absent: not steered, gate 0). */
export interface RowSteering {
  features: readonly SteeringFeature[];
  strength: number;
  positions: SteeringPositions;
  /** Tokens in the row's prompt ("generated" starts at its last position). */
  promptLength: number;
}

export interface LayerStepInputs {
  /** Features per row after padding (at least 1). */
  k: number;
  features: BigInt64Array; // [B, K]
  modes: BigInt64Array; // [B, K]
  values: Float32Array; // [B, K]
  gate: Float32Array; // [B]
  strength: Float32Array; // [B]
  positions: Float32Array; // [B, S]
}

/**
 * Inputs for a step of `seq` new tokens per row; `starts[b]` is the absolute
 * position of row b's first new token. Unsteered rows get gate 0 (the hook
 * returns their residual bit for bit); rows with fewer than K features are
 * padded with (index 0, add, 0), which adds exactly nothing.
 */
export function layerStepInputs(rows: readonly (RowSteering | null | undefined)[], seq: number, starts: readonly number[]): LayerStepInputs {
  const B = rows.length;
  const k = Math.max(1, ...rows.map((r) => r?.features.length ?? 0));
  const out: LayerStepInputs = {
    k,
    features: new BigInt64Array(B * k),
    modes: new BigInt64Array(B * k).fill(BigInt(MODE_CODE.add)),
    values: new Float32Array(B * k),
    gate: new Float32Array(B),
    strength: new Float32Array(B).fill(1),
    positions: new Float32Array(B * seq),
  };
  rows.forEach((r, b) => {
    if (!r) return;
    out.gate[b] = 1;
    out.strength[b] = r.strength;
    r.features.forEach((f, j) => {
      out.features[b * k + j] = BigInt(f.index);
      out.modes[b * k + j] = BigInt(MODE_CODE[f.mode]);
      out.values[b * k + j] = f.value;
    });
    for (let s = 0; s < seq; s++) {
      const on = r.positions === "all" || starts[b]! + s >= r.promptLength - 1;
      out.positions[b * seq + s] = on ? 1 : 0;
    }
  });
  return out;
}
