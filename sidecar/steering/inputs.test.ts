/**
 * The per-step steering inputs of conditional rows: the condition's features
 * ride in the steering features' slots (extra ones as add 0), the threshold
 * goes in as float32, and a conditional row counts only in the step holding
 * its last prompt token.
 */
import { describe, expect, it } from "vitest";
import { layerStepInputs, rowSlots, type RowSteering } from "./inputs.ts";
import { MODE_CODE } from "./names.ts";

const steer: RowSteering = {
  features: [{ index: 5, mode: "clamp", value: 4 }, { index: 9, mode: "scale", value: 2 }],
  strength: 1.5,
  positions: "generated",
  promptLength: 6,
};
const conditional: RowSteering = { ...steer, condition: { features: [{ index: 9, weight: 0.5 }, { index: 30, weight: -2 }], threshold: 0.1 } };

describe("steering inputs with a condition", () => {
  it("packs condition-only features after the steering features as add 0, with their weights", () => {
    expect(rowSlots(conditional)).toEqual({
      features: [...steer.features, { index: 30, mode: "add", value: 0 }],
      weights: [0, 0.5, -2],
    });
    expect(rowSlots(steer)).toEqual({ features: steer.features, weights: [0, 0] });
  });

  it("decides a conditional row in the step holding its last prompt token, and leaves it alone before", () => {
    // rows: plain steered, conditional, unsteered; the step holds positions 3..5 (the last prompt token is 5)
    const t = layerStepInputs([steer, conditional, null], 3, [3, 3, 3]);
    expect(t.k).toBe(3);
    expect([...t.features]).toEqual([5n, 9n, 0n, 5n, 9n, 30n, 0n, 0n, 0n]);
    expect([...t.modes]).toEqual([0, 1, 2, 0, 1, 2, 2, 2, 2].map(BigInt));
    expect([...t.values]).toEqual([4, 2, 0, 4, 2, 0, 0, 0, 0]);
    expect([...t.condWeights]).toEqual([0, 0, 0, 0, 0.5, -2, 0, 0, 0]);
    expect([...t.condThreshold]).toEqual([-Infinity, Math.fround(0.1), -Infinity]);
    expect([...t.gate]).toEqual([1, 1, 0]);
    expect([...t.positions]).toEqual([0, 0, 1, 0, 0, 1, 0, 0, 0]);
    // An earlier chunk (positions 0..2): nothing to steer or decide yet, gate 0.
    const early = layerStepInputs([steer, conditional], 3, [0, 0]);
    expect([...early.gate]).toEqual([1, 0]);
    expect(early.k).toBe(2);
    expect([...early.condThreshold]).toEqual([-Infinity, -Infinity]);
    expect(MODE_CODE.add).toBe(2);
  });

  it("refuses an undecided row past its prompt and a condition with positions all", () => {
    expect(() => layerStepInputs([conditional], 1, [6])).toThrow(/past its last prompt token/);
    expect(() => layerStepInputs([{ ...conditional, positions: "all" }], 6, [0])).toThrow(/positions "generated"/);
  });
});
