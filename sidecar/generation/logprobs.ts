/**
 * Log-probabilities for reporting (OpenAI-style `logprobs` / `top_logprobs`).
 *
 * They are computed from the model's RAW distribution, softmax of the logits
 * before temperature, top-k or top-p, as OpenAI reports them: a token that
 * top-k ruled out still has its true logprob, and the numbers do not change
 * with the sampling settings. Pass the unprocessed row (Sampler.sample leaves
 * its input untouched, so the same array serves both).
 *
 * Everything is computed in float64 with the max-shift (log-sum-exp) trick,
 * so large logits do not overflow. Ordering ties: lower token id first.
 */

export interface TokenLogprob {
  tokenId: number;
  logprob: number;
}

/** log(sum(exp(logits))), stable; throws if no logit is finite. */
export function logSumExp(logits: Float32Array): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) {
    if (logits[i] > max) max = logits[i];
  }
  if (!Number.isFinite(max)) {
    throw new RangeError("logprobs need at least one finite logit and no +Infinity");
  }
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  return max + Math.log(sum);
}

/** log(softmax(logits)) for the whole row, in float64. */
export function logSoftmax(logits: Float32Array): Float64Array {
  const lse = logSumExp(logits);
  const out = new Float64Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = logits[i] - lse;
  return out;
}

/** The logprob of one token. Pass `lse` (from logSumExp) to reuse it. */
export function tokenLogprob(logits: Float32Array, tokenId: number, lse = logSumExp(logits)): number {
  if (!Number.isInteger(tokenId) || tokenId < 0 || tokenId >= logits.length) {
    throw new RangeError(`token id ${tokenId} is outside the vocabulary (size ${logits.length})`);
  }
  return logits[tokenId] - lse;
}

/** The ids of the k largest logits, largest first (ties: lower id first). */
function topIds(logits: Float32Array, k: number): number[] {
  const ids: number[] = [];
  for (let i = 0; i < logits.length; i++) {
    const value = logits[i];
    if (ids.length === k && !(value > logits[ids[k - 1]])) continue;
    // Insert after every entry >= value, so earlier (lower) ids stay ahead.
    let at = ids.length;
    while (at > 0 && logits[ids[at - 1]] < value) at--;
    if (ids.length === k) ids.pop();
    ids.splice(at, 0, i);
  }
  return ids;
}

/**
 * The k most likely tokens with their logprobs, most likely first. k larger
 * than the vocabulary returns every token; k = 0 returns [].
 */
export function topLogprobs(logits: Float32Array, k: number, lse = logSumExp(logits)): TokenLogprob[] {
  if (!Number.isSafeInteger(k) || k < 0) {
    throw new RangeError(`top logprobs k must be an integer >= 0, got ${k}`);
  }
  if (k === 0) return [];
  return topIds(logits, Math.min(k, logits.length)).map((tokenId) => ({
    tokenId,
    logprob: logits[tokenId] - lse,
  }));
}

/** What the engine reports per generated token. */
export interface StepLogprobs {
  /** The token that was actually chosen, with its raw-distribution logprob. */
  chosen: TokenLogprob;
  /** The k most likely alternatives (may include the chosen token). */
  top: TokenLogprob[];
}

/** Logprob of the chosen token plus the top-k list, sharing one log-sum-exp. */
export function stepLogprobs(logits: Float32Array, chosenTokenId: number, k: number): StepLogprobs {
  const lse = logSumExp(logits);
  return {
    chosen: { tokenId: chosenTokenId, logprob: tokenLogprob(logits, chosenTokenId, lse) },
    top: topLogprobs(logits, k, lse),
  };
}
