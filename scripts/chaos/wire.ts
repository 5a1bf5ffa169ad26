/**
 * The three generation endpoints as the suite's client sees them: the body
 * of a request in each wire format (chat completions, responses, legacy
 * completions), the SSE frames of each format read into one shape (text,
 * finish reason, how the stream ended), and the check of a whole answer
 * against its format, which is the fuzzer's (scripts/fuzz-edge/answer.ts,
 * oracle.ts): the suite and the fuzzer hold the edge to the same wire
 * formats, error shapes and routing headers.
 */
import { checkError, checkSuccess } from "../fuzz-edge/answer.ts";
import { ENDPOINT_PATHS, ENDPOINTS, turns, type Endpoint } from "../fuzz-edge/endpoints.ts";
import { routingProblem } from "../fuzz-edge/oracle.ts";

export { ENDPOINTS, ENDPOINT_PATHS, type Endpoint };

/** The `endpoint` field of the edge's decision event for each endpoint. */
export const EVENT_ENDPOINT: Record<Endpoint, string> = { chat: "chat.completions", responses: "responses", completions: "completions" };

export interface BodyOptions {
  model: string;
  /** One user turn (every endpoint). */
  content: string;
  /** Several turns (chat; responses as message items; completions get the last user turn as the prompt). */
  messages?: Array<{ role: string; content: string; [k: string]: unknown }>;
  stream: boolean;
  maxTokens?: number;
  temperature?: number;
  /** chat and completions (responses has no seed: dropped). */
  seed?: number;
  /** chat and completions (responses has no stop: the caller keeps stop cases off it). */
  stop?: string[];
}

const opt = (k: string, v: unknown) => (v === undefined ? {} : { [k]: v });

/** A request body for `ep` in its own wire format. */
export function requestBody(ep: Endpoint, o: BodyOptions): Record<string, unknown> {
  const common = { model: o.model, stream: o.stream, ...opt("temperature", o.temperature) };
  if (ep === "chat") {
    return { ...common, messages: o.messages ?? turns("chat", [o.content]), ...opt("max_tokens", o.maxTokens), ...opt("seed", o.seed), ...opt("stop", o.stop) };
  }
  if (ep === "responses") {
    const input = o.messages ? o.messages.map((m) => ({ type: "message", role: m.role, content: m.content })) : o.content;
    return { ...common, input, ...opt("max_output_tokens", o.maxTokens) };
  }
  const prompt = o.messages ? (o.messages.filter((m) => m.role === "user").at(-1)?.content ?? "") : o.content;
  return { ...common, prompt, ...opt("max_tokens", o.maxTokens), ...opt("seed", o.seed), ...opt("stop", o.stop) };
}

/** An error object as the endpoints send it (error body, error frame, error event). */
export interface WireError {
  message?: string;
  code?: string | null;
  param?: string | null;
  type?: string;
}

/** What one SSE frame (or a whole JSON answer) says, in the same terms for every endpoint. */
export interface Frame {
  /** Generated text in this frame. */
  text?: string;
  /** stop | length | content_filter (responses: completed → stop, incomplete → its reason). */
  finish?: string;
  /** The stream's last frame: a success end ([DONE], response.completed / .incomplete) or an error end. */
  end?: "done" | "error";
  error?: WireError;
}

/** responses: status and incomplete reason → the chat finish reasons. */
function responsesFinish(r: { status?: string; incomplete_details?: { reason?: string } | null } | undefined): string | undefined {
  if (!r) return undefined;
  if (r.status === "completed") return "stop";
  const reason = r.incomplete_details?.reason;
  if (r.status === "incomplete") return reason === "max_output_tokens" ? "length" : (reason ?? "incomplete");
  return undefined;
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** One SSE event (its `event:` name and `data:`) of endpoint `ep`; null when the data is not JSON. */
export function readFrame(ep: Endpoint, event: string | undefined, data: string): Frame | null {
  if (data === "[DONE]") return { end: "done" };
  let j: Json;
  try {
    j = JSON.parse(data) as Json;
  } catch {
    return null;
  }
  if (ep !== "responses") {
    if (j.error) return { end: "error", error: j.error as WireError };
    const c = j.choices?.[0];
    return { text: (ep === "chat" ? c?.delta?.content : c?.text) ?? undefined, finish: c?.finish_reason ?? undefined };
  }
  const type = (j.type as string | undefined) ?? event;
  if (type === "response.output_text.delta") return { text: j.delta as string };
  if (type === "response.completed" || type === "response.incomplete") return { finish: responsesFinish(j.response), end: "done" };
  if (type === "error") return { end: "error", error: (j.error as WireError | undefined) ?? { message: j.message, code: j.code, param: j.param } };
  if (type === "response.failed") return { end: "error", error: (j.response?.error as WireError | undefined) ?? { message: "response.failed" } };
  return {};
}

/** A whole (non-streamed) JSON answer of `ep`: its text and finish reason, or its error. */
export function readAnswer(ep: Endpoint, j: Json): Frame {
  if (j.error) return { error: j.error as WireError };
  if (ep === "responses") {
    const text = (j.output as Json[] | undefined)?.flatMap((it) => (it.content as Json[] | undefined) ?? []).map((p) => p.text ?? "").join("") ?? "";
    return { text, finish: responsesFinish(j as Json) };
  }
  const c = j.choices?.[0];
  return { text: (ep === "chat" ? c?.message?.content : c?.text) ?? "", finish: c?.finish_reason ?? undefined };
}

/** What the client kept of an answer, for the wire check. */
export interface Wire {
  endpoint: Endpoint;
  status: number;
  headers: Record<string, string>;
  /** The whole body (a stream's every frame). */
  body: string;
}

/**
 * Why an answer is not in its endpoint's wire format, or null: a 2xx body or
 * stream (answer.ts checkSuccess) with its routing headers (oracle.ts
 * routingProblem), or an error body in the OpenAI shape (checkError).
 */
export function wireProblem(w: Wire): string | null {
  const type = w.headers["content-type"] ?? "";
  if (w.status < 300) {
    const p = checkSuccess(w.endpoint, type, w.body) ?? routingProblem(w.headers);
    return p && `${w.endpoint} answer not in its format: ${p}`;
  }
  if (w.status === 499) return null; // our own disconnect, recorded by the edge; nothing reaches a client
  let body: unknown = null;
  try {
    body = JSON.parse(w.body);
  } catch {
    return `${w.status} body is not JSON: ${w.body.slice(0, 80)}`;
  }
  const p = checkError(w.status, body);
  return p && `${w.status} error not in the OpenAI shape: ${p}`;
}
