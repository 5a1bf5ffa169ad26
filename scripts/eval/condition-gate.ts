/**
 * The third route (issue 16): an edge score in an uncertain band [lo, hi)
 * sends the prompt to the sidecar as a conditional request, steered only when
 * the profile's in-model condition holds; at or above the band it is steered,
 * below it not. A conditional request generates exactly what the steered
 * request would when the condition holds and what the unsteered one would
 * otherwise, so the eval computes this route from the condition's value and
 * the arms' generations.
 *
 * Here the value costs a forward pass of its own (ConditionScorer). In the
 * sidecar it rides the prefill the request needs anyway, so the latency this
 * gate reports for in-band prompts is an in-process stand-in, labelled so.
 */
import type { ConditionScorer } from "../find-features/condition-scorer.ts";
import type { ChatMessage } from "./suites/types.ts";

export interface Band {
  lo: number;
  hi: number;
}

/**
 * Default bands, chosen on training-side data only by
 * `npm run eval:condition` (see its --help for the
 * rule; the first stage's validation split, minus the condition's and the
 * model's training prompts): on the edge's first-stage risk (edge+condition)
 * and on the risk after the encoder stage (all). For classifier 2.5.0 the
 * rule picked the first stage's threshold (0.2823) as the lower edge of
 * edge+condition's band: there the condition can only withhold steering the
 * first stage would have given. With encoder probe 1.3.0 it picked
 * [0.2823, 0.4) for all too (probe 1.2.0: [0.25, 0.4); 1.1.0: [0.2823, 0.4)).
 * (2.4.0's were [0.15, 0.4) and [0.1897, 0.4); refit them with the classifier
 * or the probe.)
 */
export const DEFAULT_CONDITION_BANDS: Readonly<Record<"edge+condition" | "all", Band>> = {
  "edge+condition": { lo: 0.2823, hi: 0.4 },
  all: { lo: 0.2823, hi: 0.4 },
};

/** Which stage decided a prompt. */
export type GateStage = "edge" | "encoder" | "condition";

export interface BandedDecision {
  steer: boolean;
  stage: GateStage;
}

/** Parses "LO,HI" (0 <= LO <= HI <= 1). */
export function parseBand(raw: string): Band {
  const parts = raw.split(",").map((x) => x.trim());
  const [lo, hi] = parts.map(Number);
  if (parts.length !== 2 || parts.some((x) => x === "") || !Number.isFinite(lo) || !Number.isFinite(hi) || !(0 <= lo! && lo! <= hi! && hi! <= 1))
    throw new Error(`a band is LO,HI with 0 <= LO <= HI <= 1, got "${raw}"`);
  return { lo: lo!, hi: hi! };
}

/**
 * The route of a prompt: at or above the band steered (`stage` decided), below
 * it not; inside it the condition decides, unless it has no value (a prompt
 * the sidecar would not prefill), when the earlier stage's own decision stands.
 */
export async function routeBanded(
  prior: { risk: number; risky: boolean; stage: GateStage },
  band: Band,
  condition: () => Promise<{ value: number | undefined; holds: (v: number) => boolean }>,
): Promise<BandedDecision & { value?: number }> {
  if (prior.risk >= band.hi) return { steer: true, stage: prior.stage };
  if (prior.risk < band.lo) return { steer: false, stage: prior.stage };
  const c = await condition();
  if (c.value === undefined) return { steer: prior.risky, stage: prior.stage };
  return { steer: c.holds(c.value), stage: "condition", value: c.value };
}

/** The condition's value for a conversation, through the sidecar's prompt formatting. */
export function conditionOf(scorer: ConditionScorer, promptIds: (messages: ChatMessage[]) => number[]) {
  return async (messages: ChatMessage[]) => ({ value: await scorer.value(promptIds(messages)), holds: (v: number) => scorer.holds(v) });
}
