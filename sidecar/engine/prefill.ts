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
 * step and a long one goes on a chunk per step. Once a prompt got a chunk
 * that does not finish it, a prompt with more left gives way for the rest
 * of the step (at most `yieldSteps` steps in a row), so a chat-sized prompt
 * of a few chunks is not slowed by a long one's chunks in each of its steps.
 * A prompt that is the only work takes chunks of `idleChunk`. A prompt whose rotary
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
  /** Steps in a row a prompt gives way to a shorter prompt's unfinished chunk (planChunks; 0: prompts share every step). */
  yieldSteps: number;
  /** Most tokens of a prompt per step when it is the only work (idleGrowth; never less than `chunk`, Infinity: whole). */
  idleChunk: number;
}

/** The engine's default chunk (`--prefill-chunk`): chosen with `npm run bench:latency` (README, Latency). */
export const DEFAULT_PREFILL_CHUNK = 64;
/** The engine's default step budget (`--step-tokens`). */
export const DEFAULT_STEP_TOKENS = 128;

/**
 * The engine's default `yieldSteps` (`--prefill-yield`): steps in a row a
 * prompt may be kept out by shorter prompts (planChunks' `cap`); in the next
 * it is served first, so a flood of shorter prompts slows a long one but
 * cannot stop it. With 4, a prompt of up to four chunks (256 tokens at the
 * default chunk) runs each of its chunks before a longer prompt's, and a
 * longer prompt gets a chunk in at least every fifth step.
 */
export const DEFAULT_PREFILL_YIELD = 4;

/**
 * The engine's default `idleChunk` (`--idle-chunk`). Chunks exist to share
 * steps; a prompt with nothing to share them with (no running rows, no other
 * prompt admitted or waiting) pays for small ones: in 64-token chunks a lone
 * 2,000-token prompt of random-100m ran at 77-87% of its rate in 256-token
 * ones here, a 128-token one at 72-90% of its rate in one (five paired runs;
 * README, Latency, "A prompt alone"). The price: a request arriving
 * meanwhile waits for one segment of the bigger run, then runs whole if it
 * fits in an idle chunk (Scheduler.letThrough).
 */
export const DEFAULT_IDLE_CHUNK = 256;

/** Whole prompts in one step each, as before chunking (the "off" setting). */
export const NO_CHUNKING: ChunkingOptions = { chunk: Infinity, stepTokens: Infinity, yieldSteps: 0, idleChunk: Infinity };

/**
 * How much more than `chunk` a prompt takes in a step where it is the only
 * work (DEFAULT_IDLE_CHUNK); the step's budget grows by as much, so that a
 * newcomer let through meanwhile finds what it found before.
 */
export function idleGrowth(c: ChunkingOptions, alone: boolean): number {
  return alone && Number.isFinite(c.chunk) ? Math.max(c.idleChunk, c.chunk) - c.chunk : 0;
}

/** The chunking in words, for the sidecar's start-up line. */
export function describeChunking(c: ChunkingOptions): string {
  if (!Number.isFinite(c.chunk) && !Number.isFinite(c.stepTokens)) return "whole prompts, no step budget (chunking off)";
  const chunk = Number.isFinite(c.chunk) ? `prompts in chunks of ${c.chunk} tokens` : "whole prompts";
  const step = Number.isFinite(c.stepTokens) ? `${c.stepTokens} tokens a step` : "no step budget";
  const give = !Number.isFinite(c.chunk) ? "" : c.yieldSteps > 0 ? `, a prompt gives way to shorter ones at most ${c.yieldSteps} step${c.yieldSteps > 1 ? "s" : ""} in a row` : ", prompts share every step";
  const grown = idleGrowth(c, true);
  const idle = grown === 0 ? "" : Number.isFinite(grown) ? `, ${c.chunk + grown} when it is the only work` : ", whole when it is the only work";
  return `${chunk}${idle}, ${step}${give}`;
}

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
  /** Steps in a row that fed other prompts but not this one (planChunks' `yieldSteps`). */
  passedOver = 0;

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
 * Shortest remaining first holds across steps too: after a chunk that leaves
 * its prompt unfinished, prompts with more left than that prompt get nothing
 * this step. So a step behind a 200-token prompt runs its chunk, not its chunk
 * and a long prompt's, and that prompt's first token comes about as soon as
 * alone. A prompt kept out `yieldSteps` steps in a row is served first (the
 * longest kept out first), so none waits for ever (0: none is kept out,
 * prompts share every step).
 *
 * `opened`: the step has already fed a chunk (the scheduler plans one chunk
 * at a time, so that a prompt arriving while a chunk runs is planned into the
 * same step); then nothing is owed to progress, and `budget` is what is left.
 * `cap`: what the step's earlier unfinished chunks left their prompts (capAfter).
 */
export function planChunks(prompts: readonly PendingPrompt[], budget: number, chunk: number, opened = false, cap = Infinity, yieldSteps = DEFAULT_PREFILL_YIELD): PlannedChunk[] {
  // Kept out long enough: exempt from `cap`, and (yieldSteps > 0) served first, longest kept out first.
  const due = (p: PendingPrompt) => p.passedOver >= yieldSteps;
  const order = prompts.map((p, i) => ({ p, i, first: yieldSteps > 0 && due(p) ? p.passedOver : 0 }));
  // Chunking off: whole prompts in arrival order, as before chunked prefill.
  if (Number.isFinite(chunk)) order.sort((a, b) => b.first - a.first || a.p.remaining - b.p.remaining || a.i - b.i);
  let left = opened ? budget : Math.max(1, budget);
  const plan: PlannedChunk[] = [];
  for (const { p } of order) {
    if (left <= 0) break;
    if (p.remaining > cap && !due(p)) continue;
    const want = p.whole ? p.remaining : Math.min(p.remaining, chunk);
    if (p.whole && want > left && (opened || plan.length > 0)) continue;
    const tokens = p.whole ? want : Math.min(want, left);
    plan.push({ prompt: p, tokens });
    left -= tokens;
    if (tokens < p.remaining) cap = Math.min(cap, p.remaining - tokens);
  }
  return plan;
}

/** planChunks' `cap` for the rest of a step that fed `fed`: the least any of them still has to go (Infinity when all finished). */
export function capAfter(fed: Iterable<PendingPrompt>): number {
  let cap = Infinity;
  for (const p of fed) if (p.remaining > 0) cap = Math.min(cap, p.remaining);
  return cap;
}

/** After a step: a prompt fed in it starts counting again; one kept out while others were fed counts one more. */
export function countPassedOver(prompts: readonly PendingPrompt[], fed: ReadonlySet<PendingPrompt>): void {
  if (fed.size === 0) return;
  for (const p of prompts) p.passedOver = fed.has(p) ? 0 : p.held ? p.passedOver : p.passedOver + 1;
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
