/**
 * The Responses API wire format: a `response` object, or its SSE event
 * sequence as OpenAI sends it and the official SDK's stream helper
 * (ResponseStream) accumulates it: response.created, response.in_progress,
 * response.output_item.added, response.content_part.added,
 * response.output_text.delta..., response.output_text.done,
 * response.content_part.done, response.output_item.done, then
 * response.completed (or response.incomplete for a length stop or a
 * refusal), each with its `event:` line and a sequence_number. A failure
 * mid-stream ends it with an `error` event. No `[DONE]` (OpenAI sends none).
 */
import type { PositionLogprobs } from "../../proto/gen/steerguard/v1/sidecar.ts";
import { logprobEntries, sse, type LogprobEntry, type OpenAIErrorBody, type Usage } from "../openai/index.ts";
import type { Answer, Finish, StreamWriter, WireFormat } from "../pipeline/format.ts";

export interface ResponseMeta {
  /** resp_… */
  id: string;
  /** msg_…: the one output message. */
  messageId: string;
  created_at: number;
  model: string;
  /** Request fields the response object echoes. */
  instructions: string | null;
  max_output_tokens: number | null;
  temperature: number | null;
  top_p: number | null;
  user: string | null;
  /** Alternatives per token when the client asked for logprobs (include message.output_text.logprobs); null: none. */
  topLogprobs: number | null;
}

type Status = "in_progress" | "completed" | "incomplete";

/** The Responses usage object. */
export function responsesUsage(u: Usage) {
  return {
    input_tokens: u.prompt_tokens,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: u.completion_tokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: u.total_tokens,
  };
}

/** status and incomplete_details for a finish reason. */
function outcome(reason: Finish["reason"]): { status: Status; incomplete_details: { reason: string } | null } {
  if (reason === "stop") return { status: "completed", incomplete_details: null };
  return { status: "incomplete", incomplete_details: { reason: reason === "length" ? "max_output_tokens" : "content_filter" } };
}

function textPart(text: string, logprobs: LogprobEntry[]) {
  return { type: "output_text" as const, text, annotations: [], logprobs };
}

function messageItem(meta: ResponseMeta, status: Status, content: ReturnType<typeof textPart>[]) {
  return { type: "message" as const, id: meta.messageId, status, role: "assistant" as const, content };
}

/** The response object: in progress (no output yet), or finished with its one message. */
export function responseObject(meta: ResponseMeta, done: (Finish & { text: string; logprobs: LogprobEntry[] }) | null) {
  const end = done ? outcome(done.reason) : { status: "in_progress" as const, incomplete_details: null };
  return {
    id: meta.id,
    object: "response" as const,
    created_at: meta.created_at,
    status: end.status,
    background: false,
    error: null,
    incomplete_details: end.incomplete_details,
    instructions: meta.instructions,
    max_output_tokens: meta.max_output_tokens,
    max_tool_calls: null,
    model: meta.model,
    output: done ? [messageItem(meta, end.status, [textPart(done.text, done.logprobs)])] : [],
    parallel_tool_calls: false,
    previous_response_id: null,
    reasoning: { effort: null, summary: null },
    service_tier: "default",
    // Nothing is stored (edge/README.md): say so whatever the client asked.
    store: false,
    temperature: meta.temperature ?? 1,
    text: { format: { type: "text" as const } },
    tool_choice: "auto" as const,
    tools: [],
    top_logprobs: meta.topLogprobs ?? 0,
    top_p: meta.top_p ?? 1,
    truncation: "disabled" as const,
    usage: done ? responsesUsage(done.usage) : null,
    user: meta.user,
    // Not echoed: metadata is accepted and ignored.
    metadata: {},
  };
}

export function responsesFormat(meta: ResponseMeta): WireFormat {
  const entries = (lps: readonly PositionLogprobs[]) => (meta.topLogprobs === null ? [] : logprobEntries(lps, meta.topLogprobs));
  return {
    body: (a: Answer) => responseObject(meta, { ...a, logprobs: entries(a.logprobs) }),
    stream: () => new ResponsesStream(meta, entries),
  };
}

class ResponsesStream implements StreamWriter {
  private seq = 0;
  private text = "";
  private readonly logprobs: LogprobEntry[] = [];
  private readonly at = { item_id: "", output_index: 0, content_index: 0 };

  constructor(
    private readonly meta: ResponseMeta,
    private readonly entries: (lps: readonly PositionLogprobs[]) => LogprobEntry[],
  ) {
    this.at.item_id = meta.messageId;
  }

  private event(type: string, fields: Record<string, unknown>): string {
    return sse({ type, sequence_number: this.seq++, ...fields }, type);
  }

  start(): string {
    const response = responseObject(this.meta, null);
    return (
      this.event("response.created", { response }) +
      this.event("response.in_progress", { response }) +
      this.event("response.output_item.added", { output_index: 0, item: messageItem(this.meta, "in_progress", []) }) +
      this.event("response.content_part.added", { ...this.at, part: textPart("", []) })
    );
  }

  delta(text: string, lps: PositionLogprobs[]): string {
    if (!text && lps.length === 0) return "";
    const logprobs = this.entries(lps);
    this.text += text;
    this.logprobs.push(...logprobs);
    return this.event("response.output_text.delta", { ...this.at, delta: text, logprobs });
  }

  finish(done: Finish): string {
    const part = textPart(this.text, this.logprobs);
    const response = responseObject(this.meta, { ...done, text: this.text, logprobs: this.logprobs });
    const { status } = outcome(done.reason);
    return (
      this.event("response.output_text.done", { ...this.at, text: this.text, logprobs: this.logprobs }) +
      this.event("response.content_part.done", { ...this.at, part }) +
      this.event("response.output_item.done", { output_index: 0, item: messageItem(this.meta, status, [part]) }) +
      this.event(status === "completed" ? "response.completed" : "response.incomplete", { response })
    );
  }

  /** OpenAI's error event (code, message, param), with the error object too, which the SDKs raise as an APIError. */
  error(body: OpenAIErrorBody): string {
    const { code, message, param } = body.error;
    return this.event("error", { code, message, param, error: body.error });
  }
}
