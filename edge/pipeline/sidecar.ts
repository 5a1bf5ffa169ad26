/**
 * The sidecar executor: takes a slot of the edge's admission limit, starts
 * the generation (waiting for its first chunk, so that failures up to then
 * still get the failure policy), then answers whole or streams it in the
 * request's wire format. A failure mid-stream ends the stream with an error
 * frame (502, or 504 on a deadline); a client that goes away cancels the call.
 * It serves the steered, unsteered and conditional routes; on the last, the
 * in-model condition's outcome comes with the first chunk, so it goes into the
 * headers (x-steerguard-condition) and the event before anything is sent.
 * A conditional request whose profile the sidecars list without a condition
 * goes as a plain steered one (condition-fallback.ts).
 */
import type { GenerateChunk, PositionLogprobs } from "../../proto/gen/steerguard/v1/sidecar.ts";
import { errorBody, usage } from "../openai/index.ts";
import { SidecarFailure, type GenerationStream } from "../sidecar/index.ts";
import { round, type Exchange } from "./exchange.ts";
import { conditionFallback, NO_CONDITION } from "./condition-fallback.ts";
import { onFailure } from "./failure.ts";
import { finishText, type Finish, type StreamWriter } from "./format.ts";
import { toGenerateRequest } from "./request.ts";
import { generationSse } from "./stream.ts";

export async function sidecarRoute(ex: Exchange): Promise<Response> {
  const { deps } = ex;
  const a = deps.admission;
  if (a) {
    if (!a.tryEnter()) {
      const retryMs = (a.retryAfterS() ?? deps.config.failure.retry_after_s) * 1000;
      return onFailure(ex, new SidecarFailure("overloaded", `${a.size} sidecar calls in flight, limit ${a.limit}`, null, null, retryMs));
    }
    ex.admitted = true;
  }
  const decision = sentDecision(ex);
  const tb = performance.now();
  let gen: GenerationStream;
  try {
    gen = await deps.sidecar.start(toGenerateRequest(ex.req, ex.ev.request_id, decision, deps.config.limits.default_max_tokens), {
      signal: ex.signal,
      deadlineMs: deps.config.sidecar.deadline_ms,
      firstChunkTimeoutMs: deps.config.sidecar.first_chunk_timeout_ms,
    });
  } catch (err) {
    return onFailure(ex, err instanceof SidecarFailure ? err : new SidecarFailure("internal", String(err), null));
  }
  ex.ev.backend = "sidecar";
  ex.ev.sidecar = gen.address;
  ex.ev.latency.first_token = ex.sinceArrival();
  // The condition's outcome rides on the first chunk: in the headers before the answer is committed.
  if (decision.steering?.conditional) ex.condition(gen.first.condition);
  return ex.req.stream ? streamed(ex, gen, tb) : whole(ex, gen, tb);
}

/** The decision as sent: a conditional one the sidecars would refuse goes steered (recorded in the exchange). */
function sentDecision(ex: Exchange) {
  const decision = ex.routing.decision;
  const steering = conditionFallback(decision, ex.deps.sidecar);
  if (!steering) return decision;
  ex.conditionUnavailable(steering, NO_CONDITION);
  return { ...decision, steering };
}

/** Puts the finish chunk's reason, usage and steering into the event: the finish to send. */
function finished(ex: Exchange, chunk: GenerateChunk, tb: number): Finish {
  const { ev } = ex;
  const u = chunk.finish!.usage;
  ev.latency.backend = round(performance.now() - tb);
  ev.finish_reason = finishText(chunk.finish!.reason);
  ev.prompt_tokens = u?.promptTokens ?? null;
  ev.completion_tokens = u?.completionTokens ?? null;
  ev.steering_applied = u?.steeringApplied ?? null;
  return { reason: finishText(chunk.finish!.reason), usage: usage(ev.prompt_tokens ?? 0, ev.completion_tokens ?? 0) };
}

async function whole(ex: Exchange, gen: GenerationStream, tb: number): Promise<Response> {
  let text = "";
  const logprobs: PositionLogprobs[] = [];
  let last: GenerateChunk = gen.first;
  const it = gen.rest[Symbol.asyncIterator]();
  try {
    for (let ch: GenerateChunk | undefined = gen.first; ch; ) {
      text += ch.text;
      logprobs.push(...ch.logprobs);
      last = ch;
      if (ch.finish) break;
      const n = await it.next();
      ch = n.done ? undefined : n.value;
    }
  } catch (err) {
    return onFailure(ex, err as SidecarFailure);
  }
  if (!last.finish) return onFailure(ex, new SidecarFailure("internal", "stream ended without a finish chunk", gen.address));
  const done = finished(ex, last, tb);
  ex.record(200, text);
  return ex.json(200, ex.format.body({ ...done, text, logprobs }));
}

/** The first chunk is here, so the answer is committed. */
function streamed(ex: Exchange, gen: GenerationStream, tb: number): Response {
  const writer = ex.format.stream();
  const body = generationSse(gen, writer, {
    finished(chunk, completion) {
      const done = finished(ex, chunk, tb);
      ex.record(200, completion);
      return done;
    },
    failed: (err, completion) => streamFailure(ex, writer, err, completion),
    cancelled(completion) {
      if (ex.recorded) return;
      ex.ev.error = "client_disconnect";
      ex.record(499, completion);
    },
  });
  return ex.sse(body);
}

/** Records a stream that failed mid-way: the error frame to end it with ("" when the client is gone). */
function streamFailure(ex: Exchange, writer: StreamWriter, err: unknown, completion: string): string {
  const { ev } = ex;
  if (ex.abandoned) return writer.error(errorBody(503, "The edge is shutting down; retry the request.", { code: "shutting_down", type: "server_error" }));
  if (ex.recorded) return ""; // the client went away: cancel() recorded it
  if (err === null) {
    ev.error = "stream ended without a finish chunk";
    ex.record(502, completion);
    return writer.error(errorBody(502, "The model server ended the stream early.", { code: "sidecar_stream_error", type: "server_error" }));
  }
  if (ex.signal.aborted) {
    ev.error = "client_disconnect";
    ex.record(499, completion);
    return "";
  }
  const f = err as SidecarFailure;
  ev.error = `${f.kind}: ${f.message}`;
  ex.deps.metrics.sidecarFailures.inc({ kind: f.kind, fallback: "stream_error" });
  const status = f.kind === "timeout" ? 504 : 502;
  ex.record(status, completion);
  return writer.error(errorBody(status, `The model server failed mid-stream (${f.kind}): ${f.message}`, { code: "sidecar_stream_error", type: "server_error" }));
}
