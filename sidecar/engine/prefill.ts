/**
 * Chunked prefill: a prompt enters the model a chunk at a time, between the
 * running batch's decode steps, so that a long prompt never stops the running
 * streams for its whole prefill, and a short prompt that arrives behind a long
 * one is not stuck behind it.
 *
 * Every scheduler step has a token budget (`stepTokens`) shared by the
 * running rows' decode tokens (one each) and the prompt chunks of that step.
 * The prompts being prefilled get the rest of the budget shortest-remaining
 * first, each at most `chunk` tokens, so a short prompt finishes in the next
 * step and a long one goes on a chunk per step. A prompt whose rotary
 * frequencies depend on its length (dynamic / LongRoPE past their original
 * context, ../model/rope.ts) is prefilled whole, as chunk boundaries would
 * change its frequencies.
 *
 * Each chunk attends to the prompt's cache so far (batch 1; decoder.ts
 * prefillChunk); the cache joins the running batch after the last chunk, whose
 * last position's logits give the first token.
 */
import type { RowCache } from "./kv-cache.ts";
import type { RowBuffers } from "./row-buffers.ts";
import type { Sequence } from "./sequence.ts";

export interface ChunkingOptions {
  /** Most tokens of one prompt per step (Infinity: whole prompts). */
  chunk: number;
  /** Tokens per step: running rows (one each) plus prompt chunks (Infinity: no limit). */
  stepTokens: number;
}

/** The engine's default chunk (`--prefill-chunk`): chosen with `npm run bench:latency` (README, Latency). */
export const DEFAULT_PREFILL_CHUNK = 64;
/** The engine's default step budget (`--step-tokens`). */
export const DEFAULT_STEP_TOKENS = 128;

/** Whole prompts in one step each, as before chunking (the "off" setting). */
export const NO_CHUNKING: ChunkingOptions = { chunk: Infinity, stepTokens: Infinity };

/** A prompt on its way into the model. */
export class PendingPrompt {
  /** Prompt tokens already in `cache`. */
  done = 0;
  /** The row's cache so far (undefined before the first chunk). */
  cache: RowCache | undefined;
  /**
   * Not planned before the end of the step that admitted it (a prompt of more
   * than one chunk; Scheduler.admit): requests that arrive during that step's
   * decode run are then ordered with it, shortest first, rather than waiting
   * for its first chunk.
   */
  held = false;

  constructor(
    readonly seq: Sequence,
    /** Prefill in one piece (its rotary frequencies depend on its length). */
    readonly whole: boolean,
    /** The memory behind `cache` (row-buffers.ts); released once the row has joined the batch or left. */
    readonly buffers?: RowBuffers,
  ) {}

  get length(): number {
    return this.seq.request.promptIds.length;
  }

  get remaining(): number {
    return this.length - this.done;
  }
}

/** One prompt's share of a step. */
export interface PlannedChunk {
  prompt: PendingPrompt;
  /** Tokens fed this step (prompt positions done .. done + tokens - 1). */
  tokens: number;
}

/**
 * The chunks of the next step: `budget` tokens (at least one prompt always
 * gets some, so prefill progresses whatever the decode rows take) given to
 * the prompts shortest-remaining first (ties: arrival order), each at most
 * `chunk` tokens (chunk Infinity, chunking off: in arrival order). A whole prompt goes only when it fits what is left, or when
 * it is the first one served this step.
 *
 * `opened`: the step has already fed a chunk (the scheduler plans one chunk
 * at a time, so that a prompt arriving while a chunk runs is planned into the
 * same step); then nothing is owed to progress, and `budget` is what is left.
 */
export function planChunks(prompts: readonly PendingPrompt[], budget: number, chunk: number, opened = false): PlannedChunk[] {
  const order = prompts.map((p, i) => ({ p, i }));
  // Chunking off: whole prompts in arrival order, as before chunked prefill.
  if (Number.isFinite(chunk)) order.sort((a, b) => a.p.remaining - b.p.remaining || a.i - b.i);
  let left = opened ? budget : Math.max(1, budget);
  const plan: PlannedChunk[] = [];
  for (const { p } of order) {
    if (left <= 0) break;
    const want = p.whole ? p.remaining : Math.min(p.remaining, chunk);
    if (p.whole && want > left && (opened || plan.length > 0)) continue;
    const tokens = p.whole ? want : Math.min(want, left);
    plan.push({ prompt: p, tokens });
    left -= tokens;
  }
  return plan;
}

/** What one scheduler step did (for tests and benchmarks: the step structure, not its timing). */
export interface StepTrace {
  /** Running rows decoded this step (one token each). */
  decodeRows: number;
  /** Prompt chunks fed this step: request id, first position, tokens. */
  chunks: { id: string; start: number; tokens: number }[];
}

/**
 * True when chunk boundaries would change a prompt of `length` tokens: its
 * rotary frequencies are computed from the longest position of each forward
 * call (manifest `graph.family.rope` of type dynamic or longrope) and it is
 * longer than the original context those frequencies keep to.
 */
export function mustPrefillWhole(rope: unknown, length: number): boolean {
  if (!rope || typeof rope !== "object") return false;
  const r = rope as { type?: unknown; originalContext?: unknown };
  if (r.type !== "dynamic" && r.type !== "longrope") return false;
  return typeof r.originalContext !== "number" || length > r.originalContext;
}
