/** Sidecar (steerguard.v1) values in their OpenAI form. */
import { FinishReason, type PositionLogprobs } from "../../proto/gen/steerguard/v1/sidecar.ts";
import { tokenBytes, type FinishReasonText, type LogprobEntry } from "../openai/index.ts";

export function finishText(reason: FinishReason | undefined): FinishReasonText {
  return reason === FinishReason.FINISH_REASON_LENGTH ? "length" : "stop";
}

/** OpenAI `logprobs.content` entries, with at most `top` alternatives each. */
export function logprobEntries(lp: PositionLogprobs[], top: number): LogprobEntry[] {
  return lp.map((p) => ({
    token: p.chosen?.text ?? "",
    logprob: p.chosen?.logprob ?? 0,
    bytes: tokenBytes(p.chosen?.text ?? ""),
    top_logprobs: p.top.slice(0, top).map((t) => ({ token: t.text, logprob: t.logprob, bytes: tokenBytes(t.text) })),
  }));
}
