/**
 * POST /v1/chat/completions after auth, rate limit and validation: score the
 * conversation, assign the arm, decide the route, then answer from the
 * sidecar (streaming or not), the upstream, or the edge itself (blocked, or
 * the failure policy), and record one decision event plus metrics.
 */
import type { Context } from "hono";
import { GenerateRequest, type GenerateChunk } from "../../proto/gen/steerguard/v1/sidecar.ts";
import { canUse, type ApiKey } from "../auth/index.ts";
import { experimentFor, type Config } from "../config/index.ts";
import type { DecisionEvent, EventSink } from "../events/index.ts";
import type { Metrics } from "../metrics/index.ts";
import {
  chunkBody,
  completionBody,
  errorBody,
  errorResponse,
  sse,
  SSE_DONE,
  usage,
  usageChunkBody,
  type CompletionMeta,
  type FinishReasonText,
  type LogprobEntry,
} from "../openai/index.ts";
import type { RiskScorer } from "../risk/index.ts";
import { assignArm, decide, defaultArm, type Decision } from "../routing/index.ts";
import type { InflightRequests } from "../shutdown/inflight.ts";
import type { Admission } from "../sidecar/admission.ts";
import { SidecarFailure, type GenerationStream, type SidecarBackend } from "../sidecar/index.ts";
import type { ChatRequest } from "../validate/index.ts";
import { finishText, logprobEntries } from "./convert.ts";
import { overloadedResponse, retryAfterSecondsOf } from "./overloaded.ts";
import { generationSse } from "./stream.ts";

export interface ChatDeps {
  config: Config;
  scorer: RiskScorer;
  sidecar: SidecarBackend;
  events: EventSink;
  metrics: Metrics;
  /** fetch for the upstream (tests inject one). */
  fetch?: typeof fetch;
  /** Requests past routing, so that a forced shutdown can still record them. */
  inflight?: InflightRequests;
  /** The edge's admission limit on sidecar calls (config sidecar.max_inflight). */
  admission?: Admission;
}

export type ChatEnv = { Variables: { key: ApiKey; chat: ChatRequest; requestId: string; decided: boolean; startedAt: number } };

function messageText(content: ChatRequest["messages"][number]["content"]): string {
  if (typeof content === "string") return content;
  if (!content) return "";
  return content.map((p) => p.text).join("\n");
}

/** The sidecar request for a validated chat request and a decision. */
export function toGenerateRequest(body: ChatRequest, requestId: string, decision: Decision, defaultMaxTokens: number): GenerateRequest {
  const stop = body.stop == null ? [] : typeof body.stop === "string" ? [body.stop] : body.stop;
  const wantLogprobs = body.logprobs === true;
  return GenerateRequest.fromPartial({
    requestId,
    input: {
      $case: "conversation",
      value: { messages: body.messages.map((m) => ({ role: m.role === "developer" ? "system" : m.role, content: messageText(m.content) })) },
    },
    sampling: {
      maxTokens: body.max_completion_tokens ?? body.max_tokens ?? defaultMaxTokens,
      temperature: body.temperature ?? undefined,
      topP: body.top_p ?? undefined,
      seed: body.seed ?? undefined,
      stop,
      logprobs: wantLogprobs ? Math.max(1, body.top_logprobs ?? 0) : 0,
    },
    // Profile "" = steered route without a steering field (see edge/config/README.md).
    steering: decision.steering && decision.steering.profile !== "" ? { profile: decision.steering.profile, strength: decision.steering.strength } : undefined,
  });
}

export function chatHandler(deps: ChatDeps) {
  const { config, scorer, sidecar, events, metrics } = deps;
  const doFetch = deps.fetch ?? fetch;
  const defaultThreshold = config.classifier.threshold ?? scorer.threshold;

  return async (c: Context<ChatEnv>): Promise<Response> => {
    // From the request's arrival (the first middleware), so body reading counts.
    const t0 = c.get("startedAt") ?? performance.now();
    const ts = new Date(Date.now() - (performance.now() - t0)).toISOString();
    const key = c.get("key");
    const body = c.get("chat");
    const requestId = c.get("requestId");
    const model = body.model;

    if (config.models.length > 0 && !config.models.includes(model)) {
      return errorResponse(404, `The model '${model}' does not exist.`, { param: "model", code: "model_not_found" });
    }
    if (!canUse(key, model)) {
      return errorResponse(403, `This key may not use the model '${model}'.`, { param: "model", code: "model_not_allowed" });
    }
    c.set("decided", true);

    const tc = performance.now();
    const risk = scorer.score(body.messages);
    const classifyMs = performance.now() - tc;
    const experiment = experimentFor(config, model);
    const arm = experiment ? assignArm(experiment, body.user || key.id) : defaultArm();
    const decision = decide(config, experiment?.name ?? "default", arm, risk, defaultThreshold);
    const risky = risk >= (decision.threshold ?? defaultThreshold);
    const stream = body.stream === true;
    const includeUsage = stream && body.stream_options?.include_usage === true;
    const topLogprobs = body.top_logprobs ?? 0;

    const headers: Record<string, string> = {
      "x-request-id": requestId,
      "x-steerguard-experiment": decision.experiment,
      "x-steerguard-arm": decision.arm,
      "x-steerguard-route": decision.route,
      "x-steerguard-risk": risk.toFixed(4),
    };
    const meta: CompletionMeta = { id: `chatcmpl-${requestId}`, created: Math.floor(Date.now() / 1000), model };

    const ev: DecisionEvent = {
      ts,
      request_id: requestId,
      key_id: key.id,
      model,
      stream,
      experiment: decision.experiment,
      arm: decision.arm,
      policy: decision.policy,
      route: decision.route,
      risk: Math.round(risk * 1e6) / 1e6,
      threshold: decision.threshold,
      steering: decision.steering,
      backend: "none",
      sidecar: null,
      status: 0,
      finish_reason: null,
      prompt_tokens: null,
      completion_tokens: null,
      latency: { classify: round(classifyMs), first_token: null, backend: null, total: 0 },
      error: null,
      fallback: null,
      steering_applied: null,
    };
    if (config.events.include_text) ev.prompt = body.messages;
    metrics.risk.observe({ arm: decision.arm }, risk);
    metrics.inflight.inc();

    // The client's signal aborts when the client disconnects. Deno.serve's
    // legacy behaviour also aborts it once a response was delivered (deno.json
    // opts out: "unstable": ["no-legacy-abort"], which also spares an abort and
    // its DOMException in every answer's turn); for a runtime that still does,
    // the listener goes as soon as the request is recorded: otherwise every
    // finished call whose gRPC trailers were still on the way got cancelled
    // (RST_STREAM to the sidecar), in the same turn as the response write.
    const abort = new AbortController();
    const clientSignal = c.req.raw.signal;
    const onClientAbort = () => abort.abort();
    if (clientSignal.aborted) abort.abort();
    else clientSignal.addEventListener("abort", onClientAbort, { once: true });

    let recorded = false;
    /** Why the edge gave up on this request when it stopped ("shutdown: ..."), if it did. */
    let abandoned: string | null = null;
    let leave: (() => void) | undefined;
    /** Holds a slot of the edge's admission limit until the request is recorded. */
    let admitted = false;
    const record = (status: number, completion?: string) => {
      if (recorded) return;
      recorded = true;
      leave?.();
      if (admitted) deps.admission!.leave(status === 200 && ev.backend === "sidecar" ? ev.latency.backend : null);
      clientSignal.removeEventListener("abort", onClientAbort);
      ev.status = status;
      const total = performance.now() - t0;
      ev.latency.total = round(total);
      if (config.events.include_text && completion !== undefined) ev.completion = completion;
      events.write(ev);
      const labels = { arm: ev.arm, route: ev.route };
      metrics.inflight.dec();
      metrics.requests.inc({ ...labels, status: String(status), backend: ev.backend });
      metrics.duration.observe(labels, total / 1000);
      if (ev.latency.first_token !== null) metrics.firstToken.observe(labels, ev.latency.first_token / 1000);
      if (ev.prompt_tokens) metrics.tokens.inc({ ...labels, kind: "prompt" }, ev.prompt_tokens);
      if (ev.completion_tokens) metrics.tokens.inc({ ...labels, kind: "completion" }, ev.completion_tokens);
    };

    // A shutdown that cannot wait for this request any longer records it now
    // (the process exits next) and cancels the sidecar call.
    leave = deps.inflight?.add((reason) => {
      if (recorded) return;
      abandoned = reason;
      ev.error = reason;
      record(503);
      abort.abort();
    });

    const json = (status: number, payload: unknown, extra: Record<string, string> = {}) =>
      respond(JSON.stringify(payload), status, headers, JSON_TYPE, extra);

    /** A refusal from the edge itself (blocked route, or fail-closed). */
    const refusal = (): Response => {
      const text = config.failure.refusal_message;
      ev.backend = "edge";
      ev.finish_reason = "content_filter";
      ev.prompt_tokens = 0;
      ev.completion_tokens = 0;
      record(200, text);
      if (!stream) return json(200, completionBody(meta, text, "content_filter", usage(0, 0)));
      let s = sse(chunkBody(meta, { role: "assistant", content: "" }, null)) + sse(chunkBody(meta, { content: text }, null));
      s += sse(chunkBody(meta, {}, "content_filter"));
      if (includeUsage) s += sse(usageChunkBody(meta, usage(0, 0)));
      s += SSE_DONE;
      return respond(s, 200, headers, SSE_HEADERS);
    };

    const unavailable = (message: string): Response => {
      const retry = String(config.failure.retry_after_s);
      record(503);
      return new Response(JSON.stringify(errorBody(503, message, { code: "sidecar_unavailable" })), {
        status: 503,
        headers: { ...headers, "content-type": "application/json", "retry-after": retry },
      });
    };

    const upstream = async (signal: AbortSignal): Promise<Response> => {
      const up = config.upstream!;
      ev.backend = "upstream";
      ev.sidecar = null;
      const payload = { ...body, model: up.model ?? model };
      let res: Response;
      const tb = performance.now();
      try {
        res = await doFetch(`${up.base_url.replace(/\/+$/, "")}/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json", ...(up.api_key ? { authorization: `Bearer ${up.api_key}` } : {}) },
          body: JSON.stringify(payload),
          signal: AbortSignal.any([signal, AbortSignal.timeout(up.timeout_ms)]),
        });
      } catch (err) {
        ev.error = `upstream: ${(err as Error).message}`;
        ev.backend = "none";
        return unavailable("The upstream model server is unavailable; retry later.");
      }
      ev.latency.first_token = round(performance.now() - t0);
      const type = res.headers.get("content-type") ?? "application/json";
      if (!res.body || !type.includes("text/event-stream")) {
        const text = await res.text();
        try {
          const j = JSON.parse(text) as { usage?: { prompt_tokens?: number; completion_tokens?: number }; choices?: Array<{ finish_reason?: string; message?: { content?: string } }> };
          ev.prompt_tokens = j.usage?.prompt_tokens ?? null;
          ev.completion_tokens = j.usage?.completion_tokens ?? null;
          ev.finish_reason = j.choices?.[0]?.finish_reason ?? null;
          ev.latency.backend = round(performance.now() - tb);
          record(res.status, j.choices?.[0]?.message?.content ?? undefined);
        } catch {
          record(res.status);
        }
        return new Response(text, { status: res.status, headers: { ...headers, "content-type": type } });
      }
      // Stream through, reading finish_reason and usage on the way.
      const dec = new TextDecoder();
      let tail = "";
      const relay = new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, ctrl) {
          ctrl.enqueue(chunk);
          tail = (tail + dec.decode(chunk, { stream: true })).slice(-4096);
          const f = /"finish_reason":"(\w+)"/.exec(tail);
          if (f) ev.finish_reason = f[1];
          const u = /"prompt_tokens":(\d+),"completion_tokens":(\d+)/.exec(tail);
          if (u) {
            ev.prompt_tokens = Number(u[1]);
            ev.completion_tokens = Number(u[2]);
          }
        },
        flush() {
          ev.latency.backend = round(performance.now() - tb);
          record(res.status);
        },
      });
      return new Response(res.body.pipeThrough(relay), { status: res.status, headers: { ...headers, ...SSE_HEADERS } });
    };

    /**
     * Shed for load (a sidecar's queue is full, or the edge's admission limit
     * is reached): 429 with retry-after, never the canned refusal, and never
     * unsteered for a risky prompt. A safe prompt may still go upstream.
     */
    const shed = (f: SidecarFailure, signal: AbortSignal): Response | Promise<Response> => {
      metrics.shed.inc({ reason: f.address === null ? "edge_admission" : "sidecar_queue_full" });
      if (!risky && config.upstream) {
        metrics.sidecarFailures.inc({ kind: f.kind, fallback: "upstream" });
        ev.fallback = "upstream";
        return upstream(signal);
      }
      metrics.sidecarFailures.inc({ kind: f.kind, fallback: "429" });
      ev.fallback = "429";
      const retry = retryAfterSecondsOf(f, deps.admission?.retryAfterS() ?? config.failure.retry_after_s);
      record(429);
      const who = f.address === null ? "The edge is at its limit of sidecar calls in flight" : "The model server is overloaded";
      return overloadedResponse(`${who} (${f.message})`, retry, headers);
    };

    /** The failure policy, for failures before any byte of the answer was sent. */
    const onFailure = (f: SidecarFailure, signal: AbortSignal): Response | Promise<Response> => {
      ev.sidecar = f.address;
      ev.error = `${f.kind}: ${f.message}`;
      if (f.kind === "cancelled" || signal.aborted) {
        ev.error = "client_disconnect";
        record(499);
        return new Response(null, { status: 499, headers });
      }
      if (f.kind === "rejected") {
        record(400);
        return new Response(JSON.stringify(errorBody(400, `The model server rejected the request: ${f.message}`, { code: "sidecar_rejected" })), {
          status: 400,
          headers: { ...headers, "content-type": "application/json" },
        });
      }
      if (f.kind === "overloaded") return shed(f, signal);
      if (risky) {
        const fb = config.failure.risky === "refuse" ? "refuse" : "503";
        metrics.sidecarFailures.inc({ kind: f.kind, fallback: fb });
        ev.fallback = fb;
        return fb === "refuse" ? refusal() : unavailable("The model server is unavailable; retry later.");
      }
      if (config.upstream) {
        metrics.sidecarFailures.inc({ kind: f.kind, fallback: "upstream" });
        ev.fallback = "upstream";
        return upstream(signal);
      }
      metrics.sidecarFailures.inc({ kind: f.kind, fallback: "503" });
      ev.fallback = "503";
      return unavailable("The model server is unavailable; retry later.");
    };

    const signal = abort.signal;

    // (The listener stays for streams: a disconnect mid-stream cancels the call.)
    try {
      if (decision.route === "blocked") return refusal();
      if (decision.route === "unsteered" && config.upstream?.use === "unsteered") return await upstream(signal);

      const request = toGenerateRequest(body, requestId, decision, config.limits.default_max_tokens);
      const tb = performance.now();
      if (deps.admission) {
        const a = deps.admission;
        if (!a.tryEnter()) {
          const msg = `${a.size} sidecar calls in flight, limit ${a.limit}`;
          const retryMs = (a.retryAfterS() ?? config.failure.retry_after_s) * 1000;
          return await onFailure(new SidecarFailure("overloaded", msg, null, null, retryMs), signal);
        }
        admitted = true;
      }
      let gen: GenerationStream;
      try {
        gen = await sidecar.start(request, {
          signal,
          deadlineMs: config.sidecar.deadline_ms,
          firstChunkTimeoutMs: config.sidecar.first_chunk_timeout_ms,
        });
      } catch (err) {
        return await onFailure(err instanceof SidecarFailure ? err : new SidecarFailure("internal", String(err), null), signal);
      }
      ev.backend = "sidecar";
      ev.sidecar = gen.address;
      ev.latency.first_token = round(performance.now() - t0);

      const onFinish = (chunk: GenerateChunk) => {
        ev.latency.backend = round(performance.now() - tb);
        ev.finish_reason = finishText(chunk.finish!.reason);
        ev.prompt_tokens = chunk.finish!.usage?.promptTokens ?? null;
        ev.completion_tokens = chunk.finish!.usage?.completionTokens ?? null;
        ev.steering_applied = chunk.finish!.usage?.steeringApplied ?? null;
      };

      if (!stream) {
        let text = "";
        const lps: LogprobEntry[] = [];
        let last: GenerateChunk = gen.first;
        const it = gen.rest[Symbol.asyncIterator]();
        try {
          for (let ch: GenerateChunk | undefined = gen.first; ch; ) {
            text += ch.text;
            if (body.logprobs) lps.push(...logprobEntries(ch.logprobs, topLogprobs));
            last = ch;
            if (ch.finish) break;
            const n = await it.next();
            ch = n.done ? undefined : n.value;
          }
        } catch (err) {
          return await onFailure(err as SidecarFailure, signal);
        }
        if (!last.finish) return await onFailure(new SidecarFailure("internal", "stream ended without a finish chunk", gen.address), signal);
        onFinish(last);
        record(200, text);
        return json(
          200,
          completionBody(meta, text, ev.finish_reason as FinishReasonText, usage(ev.prompt_tokens ?? 0, ev.completion_tokens ?? 0), body.logprobs ? lps : null),
        );
      }

      // Streaming: the first chunk is here, so the answer is committed.
      const body$ = generationSse(gen, { meta, includeUsage, topLogprobs: body.logprobs ? topLogprobs : null }, {
        finished(chunk, completion) {
          onFinish(chunk);
          record(200, completion);
          return { reason: ev.finish_reason as FinishReasonText, usage: usage(ev.prompt_tokens ?? 0, ev.completion_tokens ?? 0) };
        },
        failed(err, completion) {
          if (abandoned) return sse(errorBody(503, "The edge is shutting down; retry the request.", { code: "shutting_down", type: "server_error" }));
          if (recorded) return ""; // the client went away: cancel() recorded it
          if (err === null) {
            ev.error = "stream ended without a finish chunk";
            record(502, completion);
            return sse(errorBody(502, "The model server ended the stream early.", { code: "sidecar_stream_error", type: "server_error" }));
          }
          if (signal.aborted) {
            ev.error = "client_disconnect";
            record(499, completion);
            return "";
          }
          const f = err as SidecarFailure;
          ev.error = `${f.kind}: ${f.message}`;
          metrics.sidecarFailures.inc({ kind: f.kind, fallback: "stream_error" });
          const status = f.kind === "timeout" ? 504 : 502;
          record(status, completion);
          return sse(errorBody(status, `The model server failed mid-stream (${f.kind}): ${f.message}`, { code: "sidecar_stream_error", type: "server_error" }));
        },
        cancelled(completion) {
          if (recorded) return;
          ev.error = "client_disconnect";
          record(499, completion);
        },
      });
      return respond(body$, 200, headers, SSE_HEADERS);
    } catch (err) {
      // Anything unexpected: answer 500 in the OpenAI shape and still record the event.
      ev.error = `internal: ${(err as Error).message}`;
      record(500);
      return json(500, errorBody(500, "Internal error in the edge."));
    }
  };
}

const SSE_HEADERS = { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" };
const JSON_TYPE = { "content-type": "application/json" };

/**
 * A Response with the given header sets (later sets win), set one by one on
 * the new Response: under Deno that costs about a third of handing a header
 * record to the constructor (which validates it through WebIDL), and it runs
 * on every answer.
 */
function respond(body: ConstructorParameters<typeof Response>[0], status: number, ...sets: Record<string, string>[]): Response {
  const res = new Response(body, { status });
  for (const set of sets) for (const k in set) res.headers.set(k, set[k]);
  return res;
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
