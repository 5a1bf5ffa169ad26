/**
 * The edge's own answers: the refusal (blocked route, or fail-closed), and
 * the failure policy for a sidecar failure before any byte of the answer was
 * sent: client gone (499), rejected (400), overloaded (429 or upstream),
 * otherwise risky prompts refused (or 503) and safe ones sent upstream (or 503).
 * A conditional request (risk in its arm's condition band) is risky here: it
 * was going to be steered if the model's condition held, and with the sidecar
 * down nothing can tell, so it falls back as a steered one does.
 */
import { errorBody, usage } from "../openai/index.ts";
import type { SidecarFailure } from "../sidecar/index.ts";
import type { Answer } from "./format.ts";
import type { Exchange } from "./exchange.ts";
import { overloadedResponse, retryAfterSecondsOf } from "./overloaded.ts";
import { hasUpstream, unavailable, upstreamRoute } from "./upstream.ts";

/** A refusal from the edge itself, in the request's wire format (finish reason content_filter). */
export function refusal(ex: Exchange): Response {
  const text = ex.deps.config.failure.refusal_message;
  Object.assign(ex.ev, { backend: "edge", finish_reason: "content_filter", prompt_tokens: 0, completion_tokens: 0 });
  ex.record(200, text);
  const answer: Answer = { text, logprobs: [], reason: "content_filter", usage: usage(0, 0) };
  if (!ex.req.stream) return ex.json(200, ex.format.body(answer));
  const w = ex.format.stream();
  return ex.sse(w.start() + w.delta(text, []) + w.finish(answer));
}

/** The failure policy, for failures before any byte of the answer was sent. */
export function onFailure(ex: Exchange, f: SidecarFailure): Response | Promise<Response> {
  const { ev, deps } = ex;
  ev.sidecar = f.address;
  ev.error = `${f.kind}: ${f.message}`;
  if (f.kind === "cancelled" || ex.signal.aborted) {
    ev.error = "client_disconnect";
    ex.record(499);
    return new Response(null, { status: 499, headers: ex.headers });
  }
  if (f.kind === "rejected") {
    ex.record(400);
    return ex.json(400, errorBody(400, `The model server rejected the request: ${f.message}`, { code: "sidecar_rejected" }));
  }
  if (f.kind === "overloaded") return shed(ex, f);
  const fallback = ex.routing.risky ? (deps.config.failure.risky === "refuse" ? "refuse" : "503") : hasUpstream(ex) ? "upstream" : "503";
  deps.metrics.sidecarFailures.inc({ kind: f.kind, fallback });
  ev.fallback = fallback;
  if (fallback === "refuse") return refusal(ex);
  if (fallback === "upstream") return upstreamRoute(ex);
  return unavailable(ex, "The model server is unavailable; retry later.");
}

/**
 * Shed for load (a sidecar's queue is full, or the edge's admission limit is
 * reached): 429 with retry-after, never the canned refusal, and never
 * unsteered for a risky prompt. A safe prompt may still go upstream.
 */
function shed(ex: Exchange, f: SidecarFailure): Response | Promise<Response> {
  const { deps, ev } = ex;
  deps.metrics.shed.inc({ reason: f.address === null ? "edge_admission" : "sidecar_queue_full" });
  const fallback = !ex.routing.risky && hasUpstream(ex) ? "upstream" : "429";
  deps.metrics.sidecarFailures.inc({ kind: f.kind, fallback });
  ev.fallback = fallback;
  if (fallback === "upstream") return upstreamRoute(ex);
  const retry = retryAfterSecondsOf(f, deps.admission?.retryAfterS() ?? deps.config.failure.retry_after_s);
  ex.record(429);
  const who = f.address === null ? "The edge is at its limit of sidecar calls in flight" : "The model server is overloaded";
  return overloadedResponse(`${who} (${f.message})`, retry, ex.headers);
}
