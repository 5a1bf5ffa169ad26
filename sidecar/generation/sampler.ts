/**
 * Picks the next token for one row of logits.
 *
 * - Greedy (temperature 0): argmax, lowest token id on ties. Uses no RNG.
 * - Otherwise: apply the LogitsProcessorList (temperature, top-k, top-p), then
 *   draw one token from the softmax of the processed logits with the
 *   request's seeded RNG. Each draw uses exactly one `nextFloat()`, so a seed
 *   fixes the whole token sequence for given logits.
 *
 * `sample` never modifies the logits passed in (processors work on a copy), so
 * the caller can still compute logprobs from the raw row. NaN logits are treated
 * as -Infinity (never chosen); a row with no finite logit is an error.
 */
import { LogitsProcessorList } from "./processors/list.ts";
import { softmaxWeight } from "./processors/select.ts";
import { resolveSamplingParams, type ResolvedSamplingParams, type SamplingParams } from "./params.ts";
import { Rng, randomSeed } from "./rng.ts";

/** Index of the largest logit; the lowest index wins ties; NaN never wins. */
export function argmax(logits: Float32Array): number {
  let best = -1;
  let bestValue = -Infinity;
  for (let i = 0; i < logits.length; i++) {
    const value = logits[i];
    if (value > bestValue) {
      best = i;
      bestValue = value;
    }
  }
  if (best === -1) {
    throw new RangeError("cannot pick a token: every logit is -Infinity or NaN");
  }
  return best;
}

/**
 * Draws a token from softmax(logits) using one uniform draw `u` in [0, 1):
 * the first token whose cumulative probability exceeds u. Tokens at -Infinity
 * (and NaN) have probability 0 and are never drawn. Does not modify `logits`.
 */
export function drawFromLogits(logits: Float32Array, u: number): number {
  const max = logits[argmax(logits)];
  const weights = new Float64Array(logits.length);
  let total = 0;
  for (let i = 0; i < logits.length; i++) {
    weights[i] = softmaxWeight(logits[i], max);
    total += weights[i];
  }

  const target = u * total;
  let cumulative = 0;
  let last = -1;
  for (let i = 0; i < logits.length; i++) {
    if (weights[i] === 0) continue;
    cumulative += weights[i];
    last = i;
    if (cumulative > target) return i;
  }
  return last; // rounding left target at the very top: take the last candidate
}

export class Sampler {
  readonly params: ResolvedSamplingParams;
  /** The seed actually used (drawn at random when none was given). */
  readonly seed: bigint;
  readonly processors: LogitsProcessorList;
  private readonly rng: Rng;

  constructor(params: SamplingParams = {}) {
    this.params = resolveSamplingParams(params);
    this.seed = this.params.seed ?? randomSeed();
    this.rng = new Rng(this.seed);
    this.processors = LogitsProcessorList.fromSamplingParams(params);
  }

  get greedy(): boolean {
    return this.params.temperature === 0;
  }

  /** Chooses the next token id for one row of logits (length V). */
  sample(logits: Float32Array): number {
    if (this.greedy) return argmax(logits);
    const row = this.processors.length === 0 ? logits : this.processors.process(copyWithoutNaN(logits));
    return drawFromLogits(row, this.rng.nextFloat());
  }
}

/** A copy of the row with NaN replaced by -Infinity, for the processors to modify. */
function copyWithoutNaN(logits: Float32Array): Float32Array {
  const row = logits.slice();
  for (let i = 0; i < row.length; i++) {
    if (Number.isNaN(row[i])) row[i] = -Infinity;
  }
  return row;
}
