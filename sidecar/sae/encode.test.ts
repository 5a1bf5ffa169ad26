import { describe, expect, it } from "vitest";
import { decode, encode, fractionOfVarianceExplained, reconstruct, topKIndices } from "./encode.ts";
import type { Sae } from "./types.ts";

/**
 * d_in 2, d_sae 3. W_enc = [[1, 0, 1], [0, 1, 1]], b_enc = [0, -1, 0.5],
 * b_dec = [1, 0], W_dec = [[1, 0], [0, 1], [1, 1]].
 * x = [3, 2]: x - b_dec = [2, 2], pre = [2, 2 - 1, 4 + 0.5] = [2, 1, 4.5].
 */
function tiny(over: Partial<Sae> = {}): Sae {
  return {
    architecture: "relu", dIn: 2, dSae: 3,
    wEnc: Float32Array.from([1, 0, 1, 0, 1, 1]),
    bEnc: Float32Array.from([0, -1, 0.5]),
    wDec: Float32Array.from([1, 0, 0, 1, 1, 1]),
    bDec: Float32Array.from([1, 0]),
    applyBDecToInput: true, source: "tiny", ...over,
  };
}

describe("SAE reference math", () => {
  it("ReLU: pre-activations of x - b_dec, negatives cut", () => {
    expect(Array.from(encode(tiny(), [3, 2]))).toEqual([2, 1, 4.5]);
    // x = [0, 0]: x - b_dec = [-1, 0] -> pre = [-1, -1, -0.5] -> all zero
    expect(Array.from(encode(tiny(), [0, 0]))).toEqual([0, 0, 0]);
  });

  it("without apply_b_dec_to_input the input is used as is", () => {
    // pre = [3, 2 - 1, 5 + 0.5]
    expect(Array.from(encode(tiny({ applyBDecToInput: false }), [3, 2]))).toEqual([3, 1, 5.5]);
  });

  it("JumpReLU keeps values strictly above each threshold", () => {
    const sae = tiny({ architecture: "jumprelu", threshold: Float32Array.from([2, 0.5, 5]) });
    // pre [2, 1, 4.5] vs thresholds [2, 0.5, 5]: only feature 1 passes
    expect(Array.from(encode(sae, [3, 2]))).toEqual([0, 1, 0]);
  });

  it("TopK keeps the k largest over the whole SAE (ReLU first, ties to the lower index)", () => {
    expect(Array.from(encode(tiny({ architecture: "topk", k: 1 }), [3, 2]))).toEqual([0, 0, 4.5]);
    expect(Array.from(encode(tiny({ architecture: "topk", k: 2 }), [3, 2]))).toEqual([2, 0, 4.5]);
    // fewer positive pre-activations than k: x = [1, 0] -> xc = [0, 0] -> pre = [0, -1, 0.5]
    expect(Array.from(encode(tiny({ architecture: "topk", k: 3 }), [1, 0]))).toEqual([0, 0, 0.5]);
    expect(topKIndices([1, 3, 3, 2], 2)).toEqual([1, 2]);
  });

  it("decode adds b_dec and the active decoder rows; reconstruct composes both", () => {
    // f = [2, 1, 4.5]: [1, 0] + 2*[1, 0] + 1*[0, 1] + 4.5*[1, 1] = [7.5, 5.5]
    expect(Array.from(decode(tiny(), [2, 1, 4.5]))).toEqual([7.5, 5.5]);
    expect(Array.from(reconstruct(tiny(), [3, 2]))).toEqual([7.5, 5.5]);
    expect(Array.from(reconstruct(tiny({ architecture: "topk", k: 1 }), [3, 2]))).toEqual([5.5, 4.5]);
  });

  it("checks input lengths", () => {
    expect(() => encode(tiny(), [1, 2, 3])).toThrow(/tiny: input has 3 values, the SAE reads d_in = 2/);
    expect(() => decode(tiny(), [1])).toThrow(/d_sae = 3/);
  });

  it("FVE: 1 for a perfect reconstruction, 1 - SSE/SST otherwise", () => {
    // identity SAE on 2 dims: W_enc = W_dec = I, no biases, ReLU: positive inputs are exact
    const id: Sae = {
      architecture: "relu", dIn: 2, dSae: 2, wEnc: Float32Array.from([1, 0, 0, 1]), bEnc: new Float32Array(2),
      wDec: Float32Array.from([1, 0, 0, 1]), bDec: new Float32Array(2), applyBDecToInput: true, source: "id",
    };
    expect(fractionOfVarianceExplained(id, Float32Array.from([1, 2, 3, 4]))).toBe(1);
    // rows [1, 0], [-1, 0]: mean 0, SST = 2; the second reconstructs to 0: SSE = 1
    expect(fractionOfVarianceExplained(id, Float32Array.from([1, 0, -1, 0]))).toBeCloseTo(0.5, 12);
  });
});
