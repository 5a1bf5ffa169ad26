/**
 * The runs bench:latency times, each on one engine (one scheduler setting),
 * through generate (the path a gRPC Generate takes, without the
 * transport; one Engine, or a ReplicaSet of engines in worker threads): running streams while a long prompt and then a short one
 * arrive; a prompt's prefill rate alone; decode rates at batch 1 and B.
 * Times are taken where a client would see them: when each chunk arrives.
 */
import { readFileSync } from "node:fs";
import { GenerateRequest } from "../../proto/gen/steerguard/v1/sidecar.ts";
import type { StepTrace } from "../../sidecar/engine/prefill.ts";
import type { SidecarBackend } from "../../sidecar/server/backend.ts";
import { median } from "../bench-engine.ts";

/** What the runs need of an engine, or of engine replicas (sidecar/replicas): Generate. */
export type Backend = Pick<SidecarBackend, "generate">;

/** One request's arrivals: when it was sent, and when each chunk carrying tokens came. */
export interface Arrivals {
  sentAt: number;
  /** performance.now() of each chunk with tokens. */
  times: number[];
  tokens: number;
  /** The engine's own time to first token (from the request's admission to the queue). */
  ttftMs: number;
  decodeTps: number;
  promptTokens: number;
}

const request = (id: string, prompt: string, maxTokens: number) =>
  GenerateRequest.fromPartial({ requestId: id, input: { $case: "prompt", value: prompt }, sampling: { temperature: 0, maxTokens } });

/** Sends a request and records its arrivals into `into` as they come (so callers can watch it). */
export async function timed(engine: Backend, id: string, prompt: string, maxTokens: number, signal = new AbortController().signal, into?: Arrivals): Promise<Arrivals> {
  const a: Arrivals = into ?? { sentAt: 0, times: [], tokens: 0, ttftMs: 0, decodeTps: 0, promptTokens: 0 };
  a.sentAt = performance.now();
  for await (const chunk of engine.generate(request(id, prompt, maxTokens), signal)) {
    if (chunk.tokenIds.length) {
      a.times.push(performance.now());
      a.tokens += chunk.tokenIds.length;
    }
    const u = chunk.finish?.usage;
    if (u) Object.assign(a, { ttftMs: u.timeToFirstTokenMs, decodeTps: u.decodeTokensPerSecond, promptTokens: u.promptTokens });
  }
  return a;
}

/** Client-side time to first token, ms. */
export const firstTokenMs = (a: Arrivals) => (a.times.length ? a.times[0]! - a.sentAt : NaN);

/** Gaps between consecutive token-carrying chunks, ms. */
export const gaps = (a: Arrivals) => a.times.slice(1).map((t, i) => t - a.times[i]!);

async function until(cond: () => boolean, what: string, ms = 600_000): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

export interface MixedPrompts {
  /** Each running stream's prompt. */
  stream: string;
  long: string;
  /** The long prompt's length in tokens. */
  longTokens: number;
  short: string;
}

export interface MixedResult {
  streams: Arrivals[];
  long: Arrivals;
  /** The short prompt sent while only the streams run, before the long one. */
  shortWithStreams: Arrivals;
  /** The short prompt sent 1 ms after the long one. */
  short: Arrivals;
  /** Short prompts sent during the long one's prefill (DURING); none when it went in one step. */
  during: Arrivals[];
}

/**
 * Sends a request as a client in another process would have it arrive at
 * `at` (a performance.now() time): its time to first token counts from `at`,
 * also when this thread is inside a model run then and gets to send it only
 * afterwards, since that wait is part of what an arriving request waits.
 */
export async function sendAt(engine: Backend, id: string, prompt: string, maxTokens: number, at: number): Promise<Arrivals> {
  // Overdue (this thread was busy at `at`): sent in this turn of the event loop, as a request
  // waiting in a socket would be read, not a timer's minimum millisecond later.
  const wait = at - performance.now();
  await new Promise((r) => (wait > 0 ? setTimeout(r, wait) : setImmediate(r)));
  // Timers run on a millisecond clock and may fire just before `at`: then the request went out then.
  const sentAt = Math.min(at, performance.now());
  return { ...(await timed(engine, id, prompt, maxTokens)), sentAt };
}

/**
 * When the short prompts sent during the long prompt's prefill arrive: once
 * that share of its tokens is in, after a delay, the delays spread over a
 * step (so arrivals fall at different points of the runs under way).
 */
export const DURING = [
  { share: 0.25, delayMs: 13 },
  { share: 0.5, delayMs: 47 },
  { share: 0.75, delayMs: 89 },
];

/**
 * `streams` streams decode; once each has `warm` tokens a short prompt is
 * sent (its time with the streams only), then a long prompt, a short one 1 ms
 * after it, and short ones during its prefill (DURING; `prefilled(id)` tells
 * how many of a request's prompt tokens have gone in), each for
 * `answerTokens` tokens. The streams are cancelled once all have finished and
 * every stream has had `warm` more tokens, so their gaps cover before, during
 * and after the long prefill.
 */
export async function mixedLoad(engine: Backend, prompts: MixedPrompts, streams: number, streamMaxTokens: number, prefilled: (id: string) => number, warm = 8, answerTokens = 4): Promise<MixedResult> {
  const ctl = new AbortController();
  const arrivals = Array.from({ length: streams }, (): Arrivals => ({ sentAt: 0, times: [], tokens: 0, ttftMs: 0, decodeTps: 0, promptTokens: 0 }));
  const running = arrivals.map((a, i) => timed(engine, `stream-${i}`, prompts.stream, streamMaxTokens, ctl.signal, a));
  await until(() => arrivals.every((a) => a.tokens >= warm), "the streams to start");
  const shortWithStreams = await sendAt(engine, "short-streams", prompts.short, answerTokens, performance.now() + DURING[0]!.delayMs);
  const longArrivals: Arrivals = { sentAt: 0, times: [], tokens: 0, ttftMs: 0, decodeTps: 0, promptTokens: 0 };
  const longRun = timed(engine, "long", prompts.long, answerTokens, undefined, longArrivals);
  const shortRun = sendAt(engine, "short", prompts.short, answerTokens, longArrivals.sentAt + 1);
  const longTokens = prompts.longTokens;
  const during: Promise<Arrivals>[] = [];
  for (const [k, { share, delayMs }] of DURING.entries()) {
    await until(() => prefilled("long") >= share * longTokens || longArrivals.tokens > 0, "the long prompt's prefill");
    if (prefilled("long") >= longTokens || longArrivals.tokens > 0) break;
    during.push(sendAt(engine, `short-during-${k}`, prompts.short, answerTokens, performance.now() + delayMs));
  }
  const [long, short, ...duringDone] = await Promise.all([longRun, shortRun, ...during]);
  const seen = arrivals.map((a) => a.tokens);
  await until(() => arrivals.every((a, i) => a.tokens >= seen[i]! + warm || a.tokens >= streamMaxTokens), "the streams to go on");
  ctl.abort();
  await Promise.all(running);
  return { streams: arrivals, long, shortWithStreams, short, during: duringDone };
}

/** Prefill tokens/s of one prompt alone: its prompt tokens over the engine's time to first token (the median of `repeats` runs, and each run's). */
export async function prefillRate(engine: Backend, prompt: string, repeats = 1): Promise<{ tokens: number; tps: number; runs: number[] }> {
  const rates: number[] = [];
  let tokens = 0;
  for (let i = 0; i < repeats; i++) {
    const a = await timed(engine, "prefill", prompt, 1);
    tokens = a.promptTokens;
    rates.push((a.promptTokens * 1000) / a.ttftMs);
  }
  return { tokens, tps: median(rates), runs: rates };
}

/**
 * Passes over the prompt lengths in one round of prefillRates (--prefill-passes).
 * Five: over 24 passes of the gqa build here, the 2,000 / 128 ratio of one pass
 * ranged from 74% to 96% (median 85%); taken over three consecutive passes it
 * fell below 80% in one window of 22, over five in none of 20 (lowest 81.5%).
 */
export const DEFAULT_PREFILL_PASSES = 5;

/**
 * Prefill tokens/s at each length (`prompts[k]` has `lengths[k]` tokens):
 * `passes` passes, each timing every length in turn (prefillRepeats
 * runs; every other pass longest first), and each length's median over all
 * its runs (`rates`); `byPass` has each pass's own medians, to show how far
 * the machine moved them. The lengths are timed at the same moments of a
 * machine whose speed drifts by seconds: one 2,000-token run against fifteen
 * 128-token runs timed a few seconds apart moved the 2,000 / 128 ratio by up
 * to thirty points from round to round here.
 */
export async function prefillRates(engine: Backend, prompts: string[], lengths: number[], passes = DEFAULT_PREFILL_PASSES): Promise<PrefillRates> {
  const longest = Math.max(...lengths);
  const runs = lengths.map((): number[] => []);
  const byPass: Record<number, number>[] = [];
  for (let pass = 0; pass < passes; pass++) {
    const order = lengths.map((_, k) => k);
    if (pass % 2 === 1) order.reverse();
    const these: Record<number, number> = {};
    for (const k of order) {
      const one = await prefillRate(engine, prompts[k]!, prefillRepeats(lengths[k]!, longest));
      runs[k]!.push(...one.runs);
      these[lengths[k]!] = one.tps;
    }
    byPass.push(these);
  }
  return { rates: Object.fromEntries(lengths.map((n, k) => [n, median(runs[k]!)])), byPass };
}

/** Prefill tokens/s by prompt length, over all passes and in each. */
export interface PrefillRates {
  rates: Record<number, number>;
  byPass: Record<number, number>[];
}

/**
 * Runs of prefillRate for a prompt of `length` tokens so that every length
 * takes about as long as the longest, `longest` (one run of it): a 128-token
 * prompt takes a tenth of a second here, and one such sample moved the
 * 2,000 / 128 ratio by more than anything the code did.
 */
export function prefillRepeats(length: number, longest: number): number {
  return Math.max(1, Math.min(15, Math.round(longest / length)) | 1);
}

/**
 * Decode tokens/s: at batch 1 the engine's own rate; with several prompts at
 * once the aggregate over the phase where all of them decode (from the last
 * row's first token to the first row's last token).
 */
export async function decodeRate(engine: Backend, prompts: string[], newTokens: number): Promise<number> {
  const runs = await Promise.all(prompts.map((p, i) => timed(engine, `decode-${i}`, p, newTokens)));
  if (runs.length === 1) return runs[0]!.decodeTps;
  // The window in which every row is decoding: from the last row's first token to the first row's
  // last. (Chunked prefill lets rows join in waves, so they also finish in waves; a window running to
  // the last token would count a tail at a smaller batch as if it were this batch size.)
  const start = Math.max(...runs.map((r) => r.times[0]!));
  const end = Math.min(...runs.map((r) => r.times.at(-1)!));
  const decoded = runs.reduce((n, r) => n + r.times.filter((t) => t > start && t <= end).length, 0);
  return end > start ? (decoded * 1000) / (end - start) : 0;
}

/** This process's minor page faults so far (Linux /proc; NaN elsewhere). */
function minorFaults(): number {
  try {
    return Number(readFileSync("/proc/self/stat", "utf8").split(") ")[1]!.split(" ")[7]);
  } catch {
    return NaN;
  }
}

/**
 * Every scheduler step of an engine (its onStep): when it ended, the page
 * faults so far, what it ran. joinSteps() finds the step in which a
 * request's last prompt chunk ran (the row joins the batch at its end) and
 * times it and the next two.
 */
export class StepLog {
  private steps: { at: number; faults: number; trace: StepTrace }[] = [];
  private start = { at: performance.now(), faults: minorFaults() };

  readonly record = (trace: StepTrace): void => {
    this.steps.push({ at: performance.now(), faults: minorFaults(), trace });
  };

  /** Prompt tokens of request `id` fed so far. */
  readonly prefilled = (id: string): number =>
    this.steps.reduce((n, s) => n + s.trace.chunks.reduce((m, c) => m + (c.id === id ? c.tokens : 0), 0), 0);

  clear(): void {
    this.steps = [];
    this.start = { at: performance.now(), faults: minorFaults() };
  }

  joinSteps(id: string, promptTokens: number): { joinStepsMs: number[]; joinFaults: number } {
    const j = this.steps.findIndex((s) => s.trace.chunks.some((c) => c.id === id && c.start + c.tokens === promptTokens));
    if (j < 0) return { joinStepsMs: [], joinFaults: NaN };
    const before = (i: number) => (i === 0 ? this.start : this.steps[i - 1]!);
    const window = this.steps.slice(j, j + 3);
    return {
      joinStepsMs: window.map((s, k) => s.at - before(j + k).at),
      joinFaults: window.at(-1)!.faults - before(j).faults,
    };
  }
}
