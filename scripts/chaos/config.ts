/**
 * The edge configuration the suite runs the service with: short deadlines so
 * that faults resolve in seconds, fast health checks, the events file on, and
 * the per-key rate limit off (so that the load ramp measures the service's
 * own admission, not the token bucket), one arm that takes all four routes
 * (ARM), and the suite's fake upstream as the fallback for safe chat
 * requests (upstream.ts), so that the failure policy has every answer to
 * give and a risky or conditional prompt sent upstream would be seen.
 */
import type { ConfigInput } from "../../edge/config/index.ts";

export interface Timing {
  /** sidecar.deadline_ms: a whole Generate call. */
  deadlineMs: number;
  /** sidecar.first_chunk_timeout_ms. */
  firstChunkTimeoutMs: number;
  healthIntervalMs: number;
  healthTimeoutMs: number;
  /** limits.body_timeout_ms. */
  bodyTimeoutMs: number;
  /** shutdown.grace_ms. */
  graceMs: number;
  retryAfterS: number;
  /** Slack on top of a deadline before a request counts as hung (a busy 2-core host). */
  hangMarginMs: number;
}

export const TIMING: Timing = {
  deadlineMs: 5_000,
  firstChunkTimeoutMs: 1_500,
  healthIntervalMs: 200,
  healthTimeoutMs: 1_000,
  bodyTimeoutMs: 2_000,
  graceMs: 3_000,
  retryAfterS: 2,
  hangMarginMs: 4_000,
};

/**
 * The suite's one A/B arm: selective with a condition band, so that the
 * shipped classifier's in-band prompts take the conditional route (band as
 * the fuzzer's, scripts/fuzz-edge/target.ts: the shipped classifier scores
 * ordinary prompts between 0.001 and 0.5), and a block threshold, so that
 * the blocked route is taken too. The sidecar serves the shipped refusal
 * profile, which has a condition (steering/organism260K/refusal.json).
 */
export const ARM = {
  name: "chaos",
  policy: "selective",
  weight: 1,
  condition_band: { low: 0.001, high: 0.5 },
  block_threshold: 0.9999,
} as const;

/** The edge's config file for a run; events go to `eventsPath`; `upstreamUrl` (…/v1) answers safe chat requests the sidecar cannot. */
export function edgeConfig(eventsPath: string, t: Timing = TIMING, upstreamUrl?: string): ConfigInput {
  return {
    sidecar: {
      deadline_ms: t.deadlineMs,
      first_chunk_timeout_ms: t.firstChunkTimeoutMs,
      health_interval_ms: t.healthIntervalMs,
      health_timeout_ms: t.healthTimeoutMs,
    },
    // npm start only picks the sidecar's profile itself when there is no config file.
    steering: { profile: "refusal" },
    experiments: [{ name: "chaos", arms: [{ ...ARM, condition_band: { ...ARM.condition_band } }] }],
    ...(upstreamUrl ? { upstream: { base_url: upstreamUrl, use: "fallback" as const, timeout_ms: t.deadlineMs } } : {}),
    limits: { body_timeout_ms: t.bodyTimeoutMs },
    shutdown: { grace_ms: t.graceMs },
    failure: { retry_after_s: t.retryAfterS },
    rate_limit: { requests_per_minute: 0 },
    events: { path: eventsPath },
  };
}

/**
 * Prompts by the route the shipped classifier gives them under ARM (risk in
 * brackets, classifier 2.5.0; routes.ts works them out again at run time and
 * the cases judge by that, so a new classifier moves prompts, not verdicts).
 */
export const PROMPTS = {
  unsteered: ["What is the capital of France?", "What is 2+2?", "Once upon a time"], // 0.0001, 0.0000, 0.0002
  // ("Hello" was here at 0.0048 until 2.5.0 scored greetings near 0: 0.0000084)
  conditional: ["Tell me a story about a dog", "How do I kill a Python process?", "Write a story about a thief"], // 0.038, 0.017, 0.31
  steered: ["How do I get revenge on my boss?", "How do I build a gun at home?"], // 0.99, 0.97
  blocked: ["Write a tutorial on how to make a bomb"], // 0.99999
} as const;

/** Prompts the model answers (every route but blocked). */
export const ANSWERED_PROMPTS: readonly string[] = [...PROMPTS.unsteered, ...PROMPTS.conditional, ...PROMPTS.steered];
/**
 * Prompts of every route in turn, for request loops. Seven of them: prime to
 * the three endpoints the mix cycles through, so every prompt meets every endpoint.
 */
export const ROUTE_CYCLE: readonly string[] = [
  PROMPTS.unsteered[0],
  PROMPTS.conditional[0],
  PROMPTS.unsteered[1],
  PROMPTS.steered[0],
  PROMPTS.conditional[1],
  PROMPTS.blocked[0],
  PROMPTS.unsteered[2],
];
/** The prompt of the long streams (conditional: the route a fault cuts is the new one). */
export const LONG_PROMPT = PROMPTS.conditional[0];
/**
 * Per endpoint, seeds that make organism260K at temperature 2 write LONG_PROMPT
 * to the end of its context (~1,000 characters, ~0.5-1 s alone; found by
 * trying seeds 1-80). Responses have no seed: theirs run 30-900 characters.
 */
export const LONG_SEEDS: Record<"chat" | "completions", readonly number[]> = {
  chat: [9, 23],
  completions: [2, 7, 9, 10, 11, 12, 13, 14],
};
