/**
 * Which replica takes a new request. A replica busy prefilling a long prompt
 * runs chunk after chunk, and a request sent to it waits for each run under
 * way; so a request goes where the least prompt text still waits for its
 * first token, then where the fewest requests are in flight, then to the
 * lowest index. A replica whose queue is full (saturated) is taken only when
 * all are; a dead one never.
 */
import type { GenerateRequest } from "../../proto/gen/steerguard/v1/sidecar.ts";

export interface ReplicaWork {
  /** Prompt characters of this replica's requests that have had no output yet. */
  pendingPromptChars: number;
  /** Requests sent to it that have not ended. */
  inFlight: number;
  /** Its queue is full (its last reported load). */
  saturated: boolean;
  /** Its worker has exited. */
  dead: boolean;
}

/** The replica to send to, or -1 when none is alive. */
export function pickReplica(replicas: readonly ReplicaWork[]): number {
  let best = -1;
  const better = (a: ReplicaWork, b: ReplicaWork) =>
    a.saturated !== b.saturated ? !a.saturated : a.pendingPromptChars !== b.pendingPromptChars ? a.pendingPromptChars < b.pendingPromptChars : a.inFlight < b.inFlight;
  replicas.forEach((r, i) => {
    if (r.dead) return;
    if (best < 0 || better(r, replicas[best]!)) best = i;
  });
  return best;
}

/** The size of a request's prompt for routing: its characters, raw or over the conversation's messages. */
export function promptChars(input: GenerateRequest["input"]): number {
  if (input?.$case === "prompt") return input.value.length;
  if (input?.$case === "conversation") return input.value.messages.reduce((n, m) => n + m.content.length, 0);
  return 0;
}
