/**
 * Rotary frequencies, as transformers computes them (modeling_rope_utils'
 * ROPE_INIT_FUNCTIONS, Phi-3's LongRoPE): the one place the reference
 * forward pass and the graph builder take them from.
 *
 * Pair j (0 <= j < headDim/2) rotates by angle `pos * invFreq[j]`; cos and
 * sin are multiplied by `scale` (LongRoPE's attention factor, else 1).
 *
 * - plain:   invFreq[j] = theta^(-2j/headDim)
 * - linear:  plain / factor (positions interpolated)
 * - llama3:  low frequencies (wavelength > originalContext / lowFreqFactor)
 *            divided by factor, high ones (< originalContext / highFreqFactor)
 *            kept, the band between blended linearly in originalContext / wavelength
 * - dynamic: NTK-aware: for a sequence of n > originalContext tokens, theta is
 *            theta * (factor * n / originalContext - (factor - 1))^(d / (d - 2))
 * - longrope: invFreq[j] = plain[j] / ext[j], ext = shortFactor while the
 *            sequence fits originalContext, longFactor past it
 *
 * "dynamic" and "longrope" depend on the sequence length n, which
 * transformers takes as max(position_ids) + 1 of the forward call; the graph
 * does the same per row, and keys already in the KV cache keep the rotation
 * they were cached with, as in transformers' cached generation.
 */
import type { LlamaConfig } from "./weights.ts";

export interface RopeFrequencies {
  invFreq: Float32Array;
  scale: number;
}

/** theta^(-2j/headDim), rounded to float32. */
export function plainInvFreq(theta: number, headDim: number): Float32Array {
  return Float32Array.from({ length: headDim / 2 }, (_, j) => 1 / theta ** ((2 * j) / headDim));
}

/** True when the frequencies do not depend on the sequence length. */
export function isStaticRope(c: Pick<LlamaConfig, "rope">): boolean {
  return c.rope === undefined || c.rope.type === "linear" || c.rope.type === "llama3";
}

/** The NTK-scaled theta of "dynamic" RoPE for a sequence of seqLen tokens. */
export function dynamicTheta(theta: number, headDim: number, factor: number, originalContext: number, seqLen: number): number {
  const n = Math.max(seqLen, originalContext);
  return theta * (factor * n / originalContext - (factor - 1)) ** (headDim / (headDim - 2));
}

/** The rotary frequencies for a forward call whose longest row has seqLen tokens. */
export function ropeFrequencies(c: Pick<LlamaConfig, "rope" | "ropeTheta" | "headDim">, seqLen: number): RopeFrequencies {
  const plain = plainInvFreq(c.ropeTheta, c.headDim);
  const r = c.rope;
  if (!r) return { invFreq: plain, scale: 1 };
  switch (r.type) {
    case "linear":
      return { invFreq: plain.map((f) => f / r.factor), scale: 1 };
    case "llama3": {
      const lowWavelen = r.originalContext / r.lowFreqFactor;
      const highWavelen = r.originalContext / r.highFreqFactor;
      const invFreq = plain.map((f) => {
        const wavelen = (2 * Math.PI) / f;
        if (wavelen < highWavelen) return f;
        if (wavelen > lowWavelen) return f / r.factor;
        const smooth = (r.originalContext / wavelen - r.lowFreqFactor) / (r.highFreqFactor - r.lowFreqFactor);
        return (1 - smooth) * (f / r.factor) + smooth * f;
      });
      return { invFreq, scale: 1 };
    }
    case "dynamic":
      return { invFreq: plainInvFreq(dynamicTheta(c.ropeTheta, c.headDim, r.factor, r.originalContext, seqLen), c.headDim), scale: 1 };
    case "longrope": {
      const ext = seqLen > r.originalContext ? r.longFactor : r.shortFactor;
      return { invFreq: plain.map((f, j) => f / ext[j]!), scale: r.attentionFactor };
    }
  }
}
