/**
 * client-disconnect: clients that go away mid-stream (after the first chunk)
 * and before a non-streamed answer, on every endpoint. Each is recorded as status 499
 * `client_disconnect` (or 200 when it had already finished), nothing stays
 * in flight at the edge (`steerguard_inflight_requests` back to 0), and the
 * next request is answered.
 */
import { LONG_PROMPT, PROMPTS } from "../config.ts";
import { longSeed } from "../traffic.ts";
import { until } from "../procs.ts";
import { answered, Tally } from "../tally.ts";
import type { ChaosCase } from "../types.ts";

export const clientDisconnect: ChaosCase = {
  name: "client-disconnect",
  fault: "",
  summary: "clients disconnect mid-stream and before an answer: 499 events, nothing left in flight, next request answered",
  async run(ctx) {
    const t = new Tally("client-disconnect", "");
    const n = ctx.quick ? 4 : 10;
    const long = { content: LONG_PROMPT, temperature: 2, maxTokens: 4_000 };
    const m = Math.max(3, Math.ceil(n / 2));
    const pending = [
      ...Array.from({ length: n }, (_, i) => {
        const endpoint = ctx.mix.at(i).endpoint;
        return ctx.client.start({ ...long, endpoint, tag: "dc-stream", stream: true, seed: longSeed(endpoint, i), abortAfterFirstChunk: true });
      }),
      ...Array.from({ length: m }, (_, i) => {
        const endpoint = ctx.mix.at(n + i).endpoint;
        return ctx.client.start({ ...long, endpoint, tag: "dc-json", seed: longSeed(endpoint, i), abortAfterMs: 30 + 20 * i });
      }),
    ];
    const outs = await Promise.all(pending.map((p) => p.done));
    for (const o of outs) {
      // These reached the edge's routing (the body was sent) unless they were answered before the abort.
      o.expectEvent = true;
      t.add(o, (x) => (x.end === "aborted" || answered(x) === null ? null : "aborted by us, or answered first"));
    }
    const aborted = outs.filter((o) => o.end === "aborted").length;
    t.goal("requests were cut while running (the case was exercised)", aborted > 0, `${aborted}/${outs.length} disconnected`);
    const inflight = await until(5_000, async () => ((await ctx.stack.metric("steerguard_inflight_requests")) === 0 ? true : undefined), 100, ctx.signal);
    t.goal("nothing left in flight at the edge (steerguard_inflight_requests 0)", inflight === true, `gauge ${await ctx.stack.metric("steerguard_inflight_requests")}`);
    for (const pick of [0, 1, 2].map((i) => ctx.mix.at(n + m + i))) t.add(await ctx.client.send({ ...pick, tag: "dc-after", content: PROMPTS.unsteered[0], maxTokens: 8 }), answered);
    t.details.disconnected = aborted;
    return t.row(ctx);
  },
};
