/**
 * The sidecar going away under streams in flight:
 *
 * - kill9-mid-stream: SIGKILL (issue 14 fault 4: it used to take the edge
 *   down with it). Streams in flight end with an error event (never cut
 *   silently, never hung) on every endpoint, in its own format; the edge
 *   keeps answering meanwhile with the failure policy (steered, conditional
 *   and blocked prompts: the fail-closed refusal; unsteered: the upstream on
 *   chat, 503 with retry-after on the others), checked at once on every
 *   endpoint, route and streaming; npm start restarts the sidecar;
 *   recovery = from the new sidecar listening to the first answer.
 * - sigterm-mid-stream: SIGTERM. The sidecar drains what it is generating
 *   (its --grace-ms is 10 s), so the streams end with [DONE]; then it exits,
 *   is restarted, and recovery is measured the same way.
 * - sidecar-stall: SIGSTOP (slow past every deadline). Streams in flight end
 *   with an error event at the deadline; new requests (every endpoint, route
 *   and streaming) get the failure policy within the first-chunk timeout;
 *   /readyz goes 503; after SIGCONT, recovery = from SIGCONT to the first answer.
 */
import type { Outcome } from "../client.ts";
import { alive, until, waitGone } from "../procs.ts";
import { conditionalFailedClosed, openLongStreams, policyBurst, probeUntilAnswered } from "../traffic.ts";
import { secs, streamEnded, Tally } from "../tally.ts";
import type { CaseContext, ChaosCase } from "../types.ts";
import { UPSTREAM_TEXT } from "../upstream.ts";
import { ENDPOINTS, type Endpoint } from "../wire.ts";

/** Recovery goal: the first answer this soon after the sidecar is back. */
export const RECOVERY_GOAL_MS = 5_000;

const drained = (o: { status: number | null; end: string }) => (o.status === 200 && o.end === "done" ? null : "its end (the sidecar drains streams in flight on SIGTERM)");

/** "chat 2/3, responses 1/3, ...": of each endpoint's streams, how many ended as `end`. */
function perEndpoint(outs: readonly Outcome[], end: Outcome["end"]): { text: string; missing: Endpoint[] } {
  const parts = ENDPOINTS.map((ep) => {
    const mine = outs.filter((o) => o.endpoint === ep);
    return { ep, n: mine.length, hit: mine.filter((o) => o.end === end).length };
  });
  return { text: parts.map((p) => `${p.ep} ${p.hit}/${p.n}`).join(", "), missing: parts.filter((p) => p.hit === 0).map((p) => p.ep) };
}

async function sidecarGoesAway(ctx: CaseContext, name: string, signal: "SIGKILL" | "SIGTERM") {
  const t = new Tally(name, "#4");
  // SIGTERM: a full batch of streams short enough to finish well inside the edge's deadline on a busy host
  // (the sidecar's grace is 10 s), so that an error event means the drain failed, not that the host was slow;
  // of different lengths, so that they end one by one while the sidecar drains.
  // Six in a quick run: two on each endpoint.
  const n = signal === "SIGTERM" ? 8 : ctx.quick ? 6 : 9;
  const { streams, started } = await openLongStreams(ctx, n, name, signal === "SIGTERM" ? (i) => 80 + 25 * i : 4_000);
  const old = ctx.stack.sidecarPid();
  const tSignal = Date.now();
  ctx.stack.signalSidecar(signal);
  ctx.log(`  ${signal} to sidecar pid ${old} with ${started}/${n} streams running`);
  const back = ctx.stack.waitFor(/^sidecar listening on/, tSignal, 60_000, ctx.signal);
  // At once, while the sidecar is away: the failure policy on every endpoint, route and streaming.
  const burst = policyBurst(ctx, t, `${name}-burst`);

  const outs = await Promise.all(streams.map((s) => s.done));
  for (const o of outs) t.add(o, signal === "SIGKILL" ? streamEnded : drained);
  const interrupted = outs.filter((o) => o.end === "error-frame").length;
  const byEp = perEndpoint(outs, signal === "SIGKILL" ? "error-frame" : "done");
  if (signal === "SIGKILL") {
    t.goal("streams were running when the sidecar died (the case was exercised)", interrupted > 0, `${interrupted}/${n} ended by an error event`);
    t.goal("streams on every endpoint ended by their error event", byEp.missing.length === 0, `error ends: ${byEp.text}`);
  } else t.goal("streams were running at the SIGTERM (the case was exercised)", started > 0, `${started}/${n} running`);
  const burstOuts = await burst;
  if (signal === "SIGKILL") conditionalFailedClosed(t, burstOuts, "right after the kill");

  const healthz = await fetch(`${ctx.stack.url}/healthz`).then((r) => r.status, () => null);
  t.goal("the edge stays up while the sidecar is down", healthz === 200, `/healthz ${healthz}`);
  const tOk = await probeUntilAnswered(ctx, t, 60_000);
  const up = await back;
  const gone = (await waitGone([old], 15_000)).length === 0;
  const restarted = ctx.stack.sidecarPid() !== old && alive(ctx.stack.sidecarPid());
  t.goal("the old sidecar is gone and npm start restarted it", gone && restarted && up !== null, `old ${old} gone: ${gone}; new ${ctx.stack.sidecarPid()}`);
  const recoveryMs = tOk !== null && up ? Math.max(0, tOk - up.at) : null;
  t.goal(`answering again within ${RECOVERY_GOAL_MS / 1000} s of the restart`, recoveryMs !== null && recoveryMs <= RECOVERY_GOAL_MS, `restart to answer ${secs(recoveryMs)}`);
  t.details.outageMs = tOk !== null ? tOk - tSignal : null;
  t.details.restartedAfterMs = up ? up.at - tSignal : null;
  t.details.streams = { opened: n, runningAtSignal: started, interrupted, done: outs.filter((o) => o.end === "done").length, byEndpoint: byEp.text };
  t.details.burst = summarize(burstOuts);
  t.note(
    `${signal}: ${interrupted}/${n} streams ended by an error event, ${outs.filter((o) => o.end === "done").length} by their end (${signal === "SIGKILL" ? "error ends" : "ends"}: ${byEp.text}); ` +
      `burst at the signal: ${t.details.burst}; outage (signal to first answer) ${secs(t.details.outageMs as number | null)}`,
  );
  return t.row(ctx, { recoveryMs });
}

/** "12 refused, 3 upstream, 4 503, 5 answered": how a burst was answered. */
function summarize(outs: readonly Outcome[]): string {
  const count = new Map<string, number>();
  for (const o of outs) {
    const k = o.finishReason === "content_filter" ? "refused" : o.status === 200 ? (o.text === UPSTREAM_TEXT ? "upstream" : "model") : String(o.status ?? o.end);
    count.set(k, (count.get(k) ?? 0) + 1);
  }
  return [...count].map(([k, v]) => `${v} ${k}`).join(", ");
}

export const kill9MidStream: ChaosCase = {
  name: "kill9-mid-stream",
  fault: "#4",
  summary: "SIGKILL the sidecar with streams running on every endpoint: error events, the failure policy meanwhile (conditional fails closed), restart, recovery",
  run: (ctx) => sidecarGoesAway(ctx, "kill9-mid-stream", "SIGKILL"),
};

export const sigtermMidStream: ChaosCase = {
  name: "sigterm-mid-stream",
  fault: "#4",
  summary: "SIGTERM the sidecar with streams running on every endpoint: they drain to their end, restart, recovery",
  run: (ctx) => sidecarGoesAway(ctx, "sigterm-mid-stream", "SIGTERM"),
};

export const sidecarStall: ChaosCase = {
  name: "sidecar-stall",
  fault: "",
  summary: "SIGSTOP the sidecar (slow past every deadline): error events at the deadline, the failure policy on every endpoint and route, /readyz 503, recovery after SIGCONT",
  async run(ctx) {
    const t = new Tally("sidecar-stall", "");
    const { deadlineMs, firstChunkTimeoutMs, hangMarginMs } = ctx.timing;
    const n = ctx.quick ? 3 : 6;
    const { streams, started } = await openLongStreams(ctx, n, "stall");
    const pid = ctx.stack.sidecarPid();
    ctx.stack.signalSidecar("SIGSTOP");
    const tStop = Date.now();
    ctx.log(`  SIGSTOP to sidecar pid ${pid} with ${started}/${n} streams running`);
    let tCont = 0;
    try {
      // New requests while it is stopped: the failure policy by the first-chunk timeout.
      const late = firstChunkTimeoutMs + hangMarginMs;
      const during = policyBurst(ctx, t, "stall", late);
      const notReady = await until(firstChunkTimeoutMs + 5_000, async () => ((await ctx.stack.readyz()) === 503 ? Date.now() - tStop : undefined), 100, ctx.signal);
      t.goal("/readyz reports not ready while the sidecar is stopped", notReady !== undefined, notReady !== undefined ? `after ${secs(notReady)}` : "stayed 200");
      const policy = await during;
      conditionalFailedClosed(t, policy, "while the sidecar is stopped");
      const outs = await Promise.all(streams.map((s) => s.done));
      for (const o of outs) t.add(o, (x) => streamEnded(x) ?? (x.ms > deadlineMs + hangMarginMs ? `an end by the deadline (${deadlineMs} ms)` : null));
      const timedOut = outs.filter((o) => o.end === "error-frame").length;
      t.goal("streams were running when the sidecar stopped (the case was exercised)", timedOut > 0, `${timedOut}/${n} ended by an error event`);
      const slowestMs = Math.round(Math.max(...outs.map((o) => o.ms)));
      const policyMs = Math.round(Math.max(...policy.map((o) => o.ms)));
      t.details.streams = { opened: n, runningAtStop: started, errorEvents: timedOut, slowestMs, byEndpoint: perEndpoint(outs, "error-frame").text };
      t.details.failurePolicy = { requests: policy.length, slowestMs: policyMs, answers: summarize(policy) };
      t.note(`stopped: ${timedOut}/${n} streams got an error event (slowest end ${secs(slowestMs)}, deadline ${secs(deadlineMs)}); ${policy.length} new requests answered by the failure policy (${summarize(policy)}) in ${secs(policyMs)} at most`);
    } finally {
      ctx.stack.signalSidecar("SIGCONT");
      tCont = Date.now();
    }
    const tOk = await probeUntilAnswered(ctx, t, 30_000);
    const recoveryMs = tOk !== null ? tOk - tCont : null;
    t.goal(`answering again within ${RECOVERY_GOAL_MS / 1000} s of SIGCONT`, recoveryMs !== null && recoveryMs <= RECOVERY_GOAL_MS, `SIGCONT to answer ${secs(recoveryMs)}`);
    const ready = await until(10_000, async () => ((await ctx.stack.readyz()) === 200 ? Date.now() - tCont : undefined), 100, ctx.signal);
    t.goal("/readyz ready again", ready !== undefined, ready !== undefined ? `after ${secs(ready)}` : "still 503");
    t.goal("the sidecar was not restarted (a stall is not a crash)", ctx.stack.sidecarPid() === pid);
    return t.row(ctx, { recoveryMs });
  },
};
