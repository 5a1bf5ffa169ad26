/**
 * The upstream executor: an OpenAI-compatible server answers, over chat
 * completions. Only the chat wire format has an upstream body (a request
 * whose `upstream` is null never comes here); its answer, streamed or not,
 * goes to the client as the upstream sent it, with finish reason, usage and
 * the completion's text read on the way for the event (and, with
 * classifier.assistant_turns "unserved", the memory of what was served).
 */
import { errorBody } from "../openai/index.ts";
import { respond, round, SSE_HEADERS, type Exchange } from "./exchange.ts";
import { UpstreamSseReader } from "./upstream-sse.ts";

/** Whether this request may go to the upstream: one is configured and its wire format has an upstream body. */
export function hasUpstream(ex: Exchange): boolean {
  return Boolean(ex.deps.config.upstream) && ex.req.upstream !== null;
}

export async function upstreamRoute(ex: Exchange): Promise<Response> {
  const up = ex.deps.config.upstream!;
  const { ev } = ex;
  ev.backend = "upstream";
  ev.sidecar = null;
  const tb = performance.now();
  let res: Response;
  try {
    res = await (ex.deps.fetch ?? fetch)(`${up.base_url.replace(/\/+$/, "")}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(up.api_key ? { authorization: `Bearer ${up.api_key}` } : {}) },
      body: JSON.stringify({ ...ex.req.upstream, model: up.model ?? ex.req.model }),
      signal: AbortSignal.any([ex.signal, AbortSignal.timeout(up.timeout_ms)]),
    });
  } catch (err) {
    ev.error = `upstream: ${(err as Error).message}`;
    ev.backend = "none";
    return unavailable(ex, "The upstream model server is unavailable; retry later.");
  }
  ev.latency.first_token = ex.sinceArrival();
  const type = res.headers.get("content-type") ?? "application/json";
  if (!res.body || !type.includes("text/event-stream")) return relayJson(ex, res, type, tb);
  return respond(res.body.pipeThrough(relaySse(ex, res.status, tb)), res.status, ex.headers, SSE_HEADERS);
}

async function relayJson(ex: Exchange, res: Response, type: string, tb: number): Promise<Response> {
  const text = await res.text();
  const { ev } = ex;
  try {
    const j = JSON.parse(text) as { usage?: { prompt_tokens?: number; completion_tokens?: number }; choices?: Array<{ finish_reason?: string; message?: { content?: string } }> };
    ev.prompt_tokens = j.usage?.prompt_tokens ?? null;
    ev.completion_tokens = j.usage?.completion_tokens ?? null;
    ev.finish_reason = j.choices?.[0]?.finish_reason ?? null;
    ev.latency.backend = round(performance.now() - tb);
    ex.record(res.status, j.choices?.[0]?.message?.content ?? undefined);
  } catch {
    ex.record(res.status);
  }
  return respond(text, res.status, ex.headers, { "content-type": type });
}

/** Streams through unchanged, reading finish reason, usage and the completion on the way (upstream-sse.ts). */
function relaySse(ex: Exchange, status: number, tb: number): TransformStream<Uint8Array, Uint8Array> {
  const reader = new UpstreamSseReader();
  const { ev } = ex;
  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, ctrl) {
      ctrl.enqueue(chunk);
      reader.feed(chunk);
    },
    flush() {
      ev.finish_reason = reader.finishReason;
      ev.prompt_tokens = reader.promptTokens;
      ev.completion_tokens = reader.completionTokens;
      ev.latency.backend = round(performance.now() - tb);
      ex.record(status, reader.completion());
    },
  });
}

/** 503 with retry-after: no backend can answer now. */
export function unavailable(ex: Exchange, message: string): Response {
  ex.record(503);
  return ex.json(503, errorBody(503, message, { code: "sidecar_unavailable" }), { "retry-after": String(ex.deps.config.failure.retry_after_s) });
}
