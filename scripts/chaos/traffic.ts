/**
 * Traffic the cases share, spread over the endpoints by the case's seeded
 * mix (mix.ts): long streams to interrupt, a burst of one request per
 * endpoint, route and streaming for the failure policy, and a probe loop
 * that finds when the service answers again after a fault.
 */
import type { Outcome, Pending } from "./client.ts";
import { LONG_PROMPT, LONG_SEEDS, PROMPTS, ROUTE_CYCLE } from "./config.ts";
import type { Route } from "./routes.ts";
import { sleep } from "./procs.ts";
import { answeredOrPolicy, modelAnswer, refused, type Tally } from "./tally.ts";
import type { CaseContext } from "./types.ts";
import { ENDPOINTS, type Endpoint } from "./wire.ts";

/**
 * Opens `n` streams of up to `maxTokens` tokens (a number, or one per stream
 * index; the default runs to the end of the context: ~0.5 s alone, ~1.5-6 s
 * eight at once on a busy 2-core host), stream i on the mix's endpoint i, and
 * waits until each has its first content chunk (or ended); resolves with
 * them and how many are still running.
 */
export async function openLongStreams(ctx: CaseContext, n: number, tag: string, maxTokens: number | ((i: number) => number) = 4_000): Promise<{ streams: Pending[]; endpoints: Endpoint[]; started: number }> {
  const endpoints = Array.from({ length: n }, (_, i) => ctx.mix.at(i).endpoint);
  const streams = endpoints.map((endpoint, i) =>
    ctx.client.start({ endpoint, tag, stream: true, content: LONG_PROMPT, temperature: 2, seed: longSeed(endpoint, i), maxTokens: typeof maxTokens === "number" ? maxTokens : maxTokens(i) }),
  );
  const first = await Promise.all(streams.map((s) => Promise.race([s.firstChunk, sleep(10_000).then(() => false)])));
  return { streams, endpoints, started: first.filter(Boolean).length };
}

/** Stream i's seed on `ep` (none on responses, which has no seed). */
export function longSeed(ep: Endpoint, i: number): number | undefined {
  if (ep === "responses") return undefined;
  const seeds = LONG_SEEDS[ep];
  return seeds[i % seeds.length];
}

/** Runs `tasks` with at most `limit` at a time; results in order. */
export async function pooled<T>(tasks: Array<() => Promise<T>>, limit: number): Promise<T[]> {
  const out: T[] = new Array(tasks.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, tasks.length) }, async () => {
      while (next < tasks.length) {
        const i = next++;
        out[i] = await tasks[i]();
      }
    }),
  );
  return out;
}

/** One prompt per route. */
const ROUTE_PROMPT: Record<Route, string> = { unsteered: PROMPTS.unsteered[0], conditional: PROMPTS.conditional[0], steered: PROMPTS.steered[0], blocked: PROMPTS.blocked[0] };

/**
 * One small request per endpoint, route and streaming (24), all at once:
 * sent while the sidecar is away, each must get the failure policy's answer
 * for its route and endpoint (or the model's, if the sidecar is back first).
 * Resolves with their outcomes, added to `tally`.
 */
export async function policyBurst(ctx: CaseContext, tally: Tally, tag: string, hangMs?: number) {
  const pending = ENDPOINTS.flatMap((endpoint) =>
    (Object.keys(ROUTE_PROMPT) as Route[]).flatMap((route) =>
      [false, true].map((stream) => ctx.client.start({ endpoint, stream, tag: `${tag}-${route}`, content: ROUTE_PROMPT[route], maxTokens: 8, hangMs })),
    ),
  );
  const outs = await Promise.all(pending.map((p) => p.done));
  for (const o of outs) tally.add(o, answeredOrPolicy);
  return outs;
}

/**
 * Per endpoint, whether conditional requests were refused (failed closed)
 * among `outs`: a goal of the faults that take the sidecar away.
 */
export function conditionalFailedClosed(tally: Tally, outs: readonly Outcome[], when: string): void {
  const missing = ENDPOINTS.filter((ep) => !outs.some((o) => o.endpoint === ep && o.expectedRoute === "conditional" && refused(o) === null));
  tally.goal(`conditional requests failed closed (the refusal) ${when}, on every endpoint`, missing.length === 0, missing.length ? `no refused conditional request on ${missing.join(", ")}` : "");
}

/**
 * Sends small requests every `everyMs` (cycling over the routes and the
 * mix's endpoints and streaming) until an unsteered one is answered by the
 * model, or `timeoutMs` passes. While the sidecar is away each must get the
 * failure policy's answer for its route (tally.ts failurePolicy). Resolves
 * with the time (ms epoch) the first model answer arrived, or null.
 */
export async function probeUntilAnswered(ctx: CaseContext, tally: Tally, timeoutMs: number, everyMs = 50): Promise<number | null> {
  const end = Date.now() + timeoutMs;
  for (let i = 0; Date.now() < end && !ctx.signal.aborted; i++) {
    const content = ROUTE_CYCLE[i % ROUTE_CYCLE.length];
    const o = await ctx.client.send({ ...ctx.mix.next(), tag: `${tally.name}-probe`, content, maxTokens: 4 });
    tally.add(o, answeredOrPolicy);
    if (o.expectedRoute === "unsteered" && modelAnswer(o) === null) return Date.now();
    await sleep(everyMs, ctx.signal);
  }
  return null;
}
