/**
 * Perplexity over a suite's texts: exp of the mean negative log-likelihood per
 * token, pooled over every token of every text (so long texts weigh more),
 * and its relative increase against a baseline arm with a paired bootstrap
 * interval (texts resampled with replacement, the same draw for both arms).
 */
import { mulberry32 } from "../../sidecar/model/random-model.ts";

export interface TokenScore {
  id: string;
  /** Sum of the text's token log-probabilities (natural log). */
  logprob: number;
  tokens: number;
}

export interface Perplexity {
  ppl: number;
  /** Mean negative log-likelihood per token (nats). */
  nll: number;
  tokens: number;
  /** Texts scored. */
  n: number;
  /** ppl / the never arm's ppl - 1 (on the same texts), and its 95% paired-bootstrap interval. */
  cost?: number;
  costLo?: number;
  costHi?: number;
}

export function perplexity(scores: readonly TokenScore[]): Perplexity {
  let lp = 0;
  let tokens = 0;
  for (const s of scores) ((lp += s.logprob), (tokens += s.tokens));
  const nll = tokens ? -lp / tokens : 0;
  return { ppl: Math.exp(nll), nll, tokens, n: scores.length };
}

/** `arm`'s perplexity with its cost against `base` (texts matched by id), 95% paired bootstrap over texts. */
export function perplexityVs(arm: readonly TokenScore[], base: readonly TokenScore[], seed = 0, resamples = 1000): Perplexity {
  const p = perplexity(arm);
  const byId = new Map(base.map((b) => [b.id, b]));
  const pairs = arm.filter((a) => byId.has(a.id)).map((a) => [a, byId.get(a.id)!] as const);
  if (!pairs.length) return p;
  const ratio = (idx: readonly number[]) => {
    let la = 0, ta = 0, lb = 0, tb = 0;
    for (const i of idx) {
      const [a, b] = pairs[i]!;
      ((la += a.logprob), (ta += a.tokens), (lb += b.logprob), (tb += b.tokens));
    }
    return Math.exp(-la / ta + lb / tb) - 1;
  };
  const cost = ratio(pairs.map((_, i) => i));
  const rand = mulberry32(seed);
  const draws: number[] = [];
  for (let r = 0; r < resamples; r++) draws.push(ratio(pairs.map(() => Math.floor(rand() * pairs.length))));
  draws.sort((x, y) => x - y);
  return { ...p, cost, costLo: draws[Math.floor(0.025 * (resamples - 1))], costHi: draws[Math.ceil(0.975 * (resamples - 1))] };
}
