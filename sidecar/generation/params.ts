/**
 * Sampling parameters for one request, and their validation.
 *
 * - temperature: 0 means greedy (argmax); otherwise logits are divided by it
 *   before sampling. Default 1.
 * - topK: keep only the k most likely tokens; 0 turns it off. Default 0.
 * - topP: nucleus sampling, keep the smallest set of most likely tokens whose
 *   probability adds up to at least topP (always at least one). 1 turns it
 *   off; 0 keeps just the most likely token. Default 1.
 * - seed: seeds the request's own RNG (see rng.ts); without it a random seed
 *   is drawn. Each request owns its RNG, so batching never changes its tokens.
 *
 * Bounds here are the engine's (any finite temperature >= 0); the public API
 * may narrow them (OpenAI accepts temperature in [0, 2]).
 */
import { normalizeSeed, type Seed } from "./rng.ts";

export interface SamplingParams {
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: Seed;
}

/** SamplingParams with defaults filled in and values checked. */
export interface ResolvedSamplingParams {
  temperature: number;
  topK: number;
  topP: number;
  /** The seed as an unsigned 64-bit value, or undefined when none was given. */
  seed: bigint | undefined;
}

/** Fills in defaults and throws RangeError on an out-of-range value. */
export function resolveSamplingParams(params: SamplingParams = {}): ResolvedSamplingParams {
  const temperature = params.temperature ?? 1;
  if (!Number.isFinite(temperature) || temperature < 0) {
    throw new RangeError(`temperature must be a finite number >= 0, got ${temperature}`);
  }
  const topK = params.topK ?? 0;
  if (!Number.isSafeInteger(topK) || topK < 0) {
    throw new RangeError(`topK must be an integer >= 0 (0 = off), got ${topK}`);
  }
  const topP = params.topP ?? 1;
  if (!Number.isFinite(topP) || topP < 0 || topP > 1) {
    throw new RangeError(`topP must be in [0, 1] (1 = off), got ${topP}`);
  }
  const seed = params.seed === undefined ? undefined : normalizeSeed(params.seed);
  return { temperature, topK, topP, seed };
}
