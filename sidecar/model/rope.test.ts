import { describe, expect, it } from "vitest";
import { dynamicTheta, isStaticRope, plainInvFreq, ropeFrequencies } from "./rope.ts";

const HD = 128;
const plain = plainInvFreq(500000, HD);

describe("rotary frequencies", () => {
  it("plain RoPE: theta^(-2j/d)", () => {
    const { invFreq, scale } = ropeFrequencies({ ropeTheta: 10000, headDim: 4 }, 1);
    expect([...invFreq]).toEqual([1, Math.fround(0.01)]);
    expect(scale).toBe(1);
  });

  it("llama3 (Llama 3.1's factor 8, low 1, high 4, original 8192): short wavelengths kept, long ones / 8, the band between blended", () => {
    const rope = { type: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 8192 } as const;
    const { invFreq } = ropeFrequencies({ ropeTheta: 500000, headDim: HD, rope }, 1);
    const wavelen = (j: number) => (2 * Math.PI) / plain[j]!;
    let kept = 0, divided = 0, blended = 0;
    for (let j = 0; j < HD / 2; j++) {
      if (wavelen(j) < 8192 / 4) {
        expect(invFreq[j]).toBe(plain[j]);
        kept++;
      } else if (wavelen(j) > 8192) {
        expect(invFreq[j]).toBeCloseTo(plain[j]! / 8, 12);
        divided++;
      } else {
        // smooth = (8192 / wavelen - 1) / 3; (1 - smooth) * f / 8 + smooth * f
        const smooth = (8192 / wavelen(j) - 1) / 3;
        expect(invFreq[j]).toBeCloseTo((1 - smooth) * (plain[j]! / 8) + smooth * plain[j]!, 10);
        expect(invFreq[j]).toBeLessThan(plain[j]!);
        expect(invFreq[j]).toBeGreaterThan(plain[j]! / 8);
        blended++;
      }
    }
    expect([kept > 0, divided > 0, blended > 0]).toEqual([true, true, true]);
    expect(isStaticRope({ rope })).toBe(true);
  });

  it("linear divides every frequency by the factor", () => {
    const { invFreq } = ropeFrequencies({ ropeTheta: 500000, headDim: HD, rope: { type: "linear", factor: 4 } }, 1);
    invFreq.forEach((f, j) => expect(f).toBeCloseTo(plain[j]! / 4, 12));
  });

  it("dynamic NTK: plain up to the original context, theta * (f n / L - (f - 1))^(d / (d - 2)) past it", () => {
    const rope = { type: "dynamic", factor: 2, originalContext: 2048 } as const;
    const c = { ropeTheta: 10000, headDim: HD, rope };
    expect([...ropeFrequencies(c, 2048).invFreq]).toEqual([...plainInvFreq(10000, HD)]);
    expect(dynamicTheta(10000, HD, 2, 2048, 4096)).toBeCloseTo(10000 * 3 ** (128 / 126), 6);
    expect([...ropeFrequencies(c, 4096).invFreq]).toEqual([...plainInvFreq(10000 * 3 ** (128 / 126), HD)]);
    expect(isStaticRope(c)).toBe(false);
  });

  it("longrope: short factors up to the original context, long ones past it, cos/sin scaled", () => {
    const shortFactor = Array.from({ length: 2 }, (_, j) => 1 + j);
    const longFactor = [4, 8];
    const c = { ropeTheta: 10000, headDim: 4, rope: { type: "longrope", shortFactor, longFactor, originalContext: 4096, attentionFactor: 1.19 } as const };
    expect([...ropeFrequencies(c, 4096).invFreq]).toEqual([1, Math.fround(0.01 / 2)]);
    expect([...ropeFrequencies(c, 4097).invFreq]).toEqual([Math.fround(1 / 4), Math.fround(0.01 / 8)]);
    expect(ropeFrequencies(c, 1).scale).toBe(1.19);
  });
});
