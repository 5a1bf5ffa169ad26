/**
 * Which replica takes a new request. A replica busy prefilling a long prompt
 * runs chunk after chunk, and a request sent to it waits for each run under
 * way; one that is decoding makes a newcomer wait for its decode run and then
 * share the next. So requests are packed onto as few replicas as will take
 * them, keeping the others free: a request goes to a free replica (no long
 * prompt waiting, a batch row to spare), the one with the most requests in
 * flight, then the lowest index; when none is free, to the one with the least
 * prompt waiting, then the fewest in flight. A replica whose queue is full
 * (saturated) is taken only when all are; a dead one never. The main thread
 * does not tokenize: a prompt's tokens are estimated from its characters at
 * the rate finished requests showed (PromptSizer).
 */

export interface ReplicaWork {
  /** Prompt tokens (estimated) of this replica's requests that have had no output yet. */
  pendingPromptTokens: number;
  /** Requests sent to it that have not ended. */
  inFlight: number;
  /** Its batch rows (--max-batch); Infinity while unknown. */
  maxBatch: number;
  /** Its queue is full (its last reported load). */
  saturated: boolean;
  /** Its worker has exited. */
  dead: boolean;
}

/**
 * Prompt tokens waiting past which a replica is busy (four of the default
 * 64-token chunks): a newcomer would wait for several of its runs.
 */
export const BUSY_PROMPT_TOKENS = 256;

/** No long prompt waiting, and a batch row to spare. */
export const isFree = (r: ReplicaWork) => r.pendingPromptTokens <= BUSY_PROMPT_TOKENS && r.inFlight < r.maxBatch;

function better(a: ReplicaWork, b: ReplicaWork): boolean {
  if (a.saturated !== b.saturated) return !a.saturated;
  if (isFree(a) !== isFree(b)) return isFree(a);
  if (isFree(a)) return a.inFlight > b.inFlight; // pack, so the others stay free
  return a.pendingPromptTokens !== b.pendingPromptTokens ? a.pendingPromptTokens < b.pendingPromptTokens : a.inFlight < b.inFlight;
}

/** The replica to send to, or -1 when none is alive. */
export function pickReplica(replicas: readonly ReplicaWork[]): number {
  let best = -1;
  replicas.forEach((r, i) => {
    if (r.dead) return;
    if (best < 0 || better(r, replicas[best]!)) best = i;
  });
  return best;
}

/** The size of a request's prompt for routing: its characters, raw or over the conversation's messages. */
export { promptChars } from "../engine/prompt-ids.ts";

/**
 * A prompt's tokens from its characters, at the characters per token of the
 * requests finished so far (their usage), or 4 until 64 tokens have been seen.
 */
export class PromptSizer {
  private chars = 0;
  private tokens = 0;

  learn(chars: number, tokens: number): void {
    if (tokens <= 0) return;
    this.chars += chars;
    this.tokens += tokens;
  }

  get charsPerToken(): number {
    return this.tokens >= 64 && this.chars > 0 ? this.chars / this.tokens : 4;
  }

  tokensOf(chars: number): number {
    return chars / this.charsPerToken;
  }
}
