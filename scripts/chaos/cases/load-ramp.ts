/**
 * load-ramp (issue 14 fault 8): 1, 8, 32 and 128 concurrent clients, each
 * sending small requests back to back for a few seconds, spread over the
 * endpoints, streamed and not (the case's seeded mix), with prompts of every
 * route in turn. One row per level. It measures what the service does under
 * load, without assuming how it sheds:
 *
 * - shed rate: the fraction answered 429 or 503, and the fraction of those
 *   that carry retry-after (the signal a client or load balancer acts on);
 * - fail-closed refusals: steered or conditional requests answered with the
 *   edge's canned refusal because the sidecar could not take them (timeout);
 *   also shedding, but without a signal; and safe chat requests sent to the
 *   upstream instead;
 * - /readyz while loaded (polled every 250 ms), requests/s, p50 / p99;
 * - at the end, which queue / admission metrics /metrics exports.
 *
 * Goals: nothing hangs or fails otherwise (5xx other than 503, connection
 * errors, an answer other than the route's or the failure policy's, a
 * malformed answer), every 429/503 has retry-after, nothing is shed or falls
 * back at 8 clients or fewer (the sidecar batches 8), and every level still
 * gets model answers.
 */
import type { Outcome } from "../client.ts";
import { ROUTE_CYCLE } from "../config.ts";
import { sleep } from "../procs.ts";
import { answered, anyOf, failurePolicy, modelAnswer, shedWithRetry, Tally, upstreamAnswer } from "../tally.ts";
import type { CaseContext, CaseRow, ChaosCase } from "../types.ts";

export const LEVELS = [1, 8, 32, 128];

function percentile(xs: number[], p: number): number | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

/** An edge refusal of a request the sidecar could not take (not a route the classifier blocked). */
const failClosed = (o: Outcome) => o.status === 200 && o.finishReason === "content_filter" && o.expectedRoute !== "blocked";
const underLoad = anyOf(answered, shedWithRetry, failurePolicy);

async function level(ctx: CaseContext, clients: number, seconds: number): Promise<CaseRow> {
  const t = new Tally(`load-ramp@${clients}`, "#8");
  const end = Date.now() + seconds * 1000;
  const readyz = { samples: 0, notReady: 0 };
  let polling = true;
  const poll = (async () => {
    while (polling && !ctx.signal.aborted) {
      readyz.samples++;
      if ((await ctx.stack.readyz()) !== 200) readyz.notReady++;
      await sleep(250, ctx.signal);
    }
  })();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let i = c; Date.now() < end && !ctx.signal.aborted; i++) {
        const o = await ctx.client.send({ ...ctx.mix.at(c * 7919 + i), tag: `load${clients}`, content: ROUTE_CYCLE[i % ROUTE_CYCLE.length], maxTokens: 16 });
        t.add(o, underLoad);
      }
    }),
  );
  const wall = (performance.now() - t0) / 1000;
  polling = false;
  await poll;
  const outs = t.outcomes;
  const shed = outs.filter((o) => o.status === 429 || o.status === 503);
  const withRetry = shed.filter((o) => o.retryAfter).length;
  const refusedUnderLoad = outs.filter(failClosed).length;
  const toUpstream = outs.filter((o) => upstreamAnswer(o) === null).length;
  const ok = outs.filter((o) => modelAnswer(o) === null);
  const lat = ok.map((o) => o.ms);
  const shedRate = outs.length ? shed.length / outs.length : 0;
  t.goal("every 429/503 carries retry-after", withRetry === shed.length, `${withRetry}/${shed.length}`);
  if (clients <= 8) t.goal("nothing shed at 8 clients or fewer", shed.length === 0 && refusedUnderLoad === 0 && toUpstream === 0, `${shed.length} shed, ${refusedUnderLoad} fail-closed refusals, ${toUpstream} sent upstream`);
  t.goal("the model still answers", ok.length > 0, `${ok.length} answered`);
  const pct = (n: number) => `${((100 * n) / Math.max(1, outs.length)).toFixed(1)}%`;
  t.details.level = {
    clients,
    seconds: Math.round(wall * 100) / 100,
    requestsPerS: Math.round((outs.length / wall) * 10) / 10,
    answered: ok.length,
    shed429: shed.filter((o) => o.status === 429).length,
    shed503: shed.filter((o) => o.status === 503).length,
    shedWithRetryAfter: withRetry,
    failClosedRefusals: refusedUnderLoad,
    upstreamFallbacks: toUpstream,
    p50Ms: percentile(lat, 50),
    p99Ms: percentile(lat, 99),
    readyz,
    retryAfterValues: [...new Set(shed.map((o) => o.retryAfter))].slice(0, 10),
    /** Shed after routing (with arm headers, so with a decision event) rather than before it. */
    shedWithEvent: shed.filter((o) => o.expectEvent).length,
  };
  t.note(
    `${clients} clients: ${(outs.length / wall).toFixed(0)} req/s, answered ${pct(ok.length)} (p50 ${Math.round(percentile(lat, 50) ?? 0)} ms, p99 ${Math.round(percentile(lat, 99) ?? 0)} ms), ` +
      `429 ${pct(shed.filter((o) => o.status === 429).length)}, 503 ${pct(shed.filter((o) => o.status === 503).length)}, fail-closed refusals ${pct(refusedUnderLoad)}, upstream ${pct(toUpstream)}` +
      `${shed.length ? ` (shed after routing, with an event: ${shed.filter((o) => o.expectEvent).length}/${shed.length})` : ""}; /readyz not ready ${readyz.notReady}/${readyz.samples}`,
  );
  ctx.log(`  ${t.notes.at(-1)}`);
  return t.row(ctx, { shed: { rate: shedRate, retryAfter: shed.length ? withRetry / shed.length : null } });
}

export const loadRamp: ChaosCase = {
  name: "load-ramp",
  fault: "#8",
  summary: `${LEVELS.join(", ")} concurrent clients for a few seconds each: shed rate, retry-after, fail-closed refusals, /readyz`,
  async run(ctx) {
    const seconds = ctx.quick ? 2 : 5;
    const rows: CaseRow[] = [];
    for (const clients of LEVELS) {
      if (ctx.signal.aborted) break;
      ctx.log(`  ${clients} clients for ${seconds} s`);
      rows.push(await level(ctx, clients, seconds));
      await sleep(500, ctx.signal); // let the queue drain between levels
    }
    const metrics = await fetch(`${ctx.stack.url}/metrics`).then((r) => r.text(), () => "");
    const names = [...new Set([...metrics.matchAll(/^(steerguard_\w*(?:queue|admission|admit|saturat|capacity|concurren|shed)\w*)/gm)].map((m) => m[1]))];
    const last = rows.at(-1);
    if (last) {
      last.details.backpressureMetrics = names;
      last.notes.push(names.length ? `queue/admission metrics exported: ${names.join(", ")}` : "no queue depth or admission metric in /metrics");
    }
    return rows;
  },
};
