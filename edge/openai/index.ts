/**
 * OpenAI wire formats: the error shape, usage, logprob entries, SSE frames,
 * chat.completion responses and chat.completion.chunk frames. (The responses
 * and legacy completions formats are in edge/responses and edge/completions.)
 */
import type { PositionLogprobs } from "../../proto/gen/steerguard/v1/sidecar.ts";

export type FinishReasonText = "stop" | "length" | "content_filter";

export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

/** The OpenAI error type for an HTTP status. */
export function errorType(status: number): string {
  if (status === 401) return "authentication_error";
  if (status === 403) return "permission_error";
  if (status === 404) return "not_found_error";
  if (status === 413) return "invalid_request_error";
  if (status === 429) return "rate_limit_error";
  if (status >= 500) return status === 503 ? "service_unavailable" : "server_error";
  return "invalid_request_error";
}

export function errorBody(status: number, message: string, opts: { param?: string | null; code?: string | null; type?: string } = {}): OpenAIErrorBody {
  return { error: { message, type: opts.type ?? errorType(status), param: opts.param ?? null, code: opts.code ?? null } };
}

/** A JSON error response in the OpenAI shape. */
export function errorResponse(
  status: number,
  message: string,
  opts: { param?: string | null; code?: string | null; headers?: Record<string, string> } = {},
): Response {
  return new Response(JSON.stringify(errorBody(status, message, opts)), {
    status,
    headers: { "content-type": "application/json", ...opts.headers },
  });
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export function usage(prompt: number, completion: number): Usage {
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

export interface LogprobEntry {
  token: string;
  logprob: number;
  bytes: number[];
  top_logprobs: Array<{ token: string; logprob: number; bytes: number[] }>;
}

const enc = new TextEncoder();
export function tokenBytes(s: string): number[] {
  return Array.from(enc.encode(s));
}

/** OpenAI `logprobs.content` entries (chat, and responses' output_text), with at most `top` alternatives each. */
export function logprobEntries(lp: readonly PositionLogprobs[], top: number): LogprobEntry[] {
  return lp.map((p) => ({
    token: p.chosen?.text ?? "",
    logprob: p.chosen?.logprob ?? 0,
    bytes: tokenBytes(p.chosen?.text ?? ""),
    top_logprobs: p.top.slice(0, top).map((t) => ({ token: t.text, logprob: t.logprob, bytes: tokenBytes(t.text) })),
  }));
}

export interface CompletionMeta {
  id: string;
  created: number;
  model: string;
}

export function completionBody(
  meta: CompletionMeta,
  content: string,
  finish: FinishReasonText,
  u: Usage,
  logprobs: LogprobEntry[] | null = null,
) {
  return {
    id: meta.id,
    object: "chat.completion" as const,
    created: meta.created,
    model: meta.model,
    system_fingerprint: null,
    choices: [
      {
        index: 0,
        message: { role: "assistant" as const, content, refusal: null },
        logprobs: logprobs ? { content: logprobs } : null,
        finish_reason: finish,
      },
    ],
    usage: u,
  };
}

/** One chat.completion.chunk. */
export function chunkBody(
  meta: CompletionMeta,
  delta: { role?: "assistant"; content?: string },
  finish: FinishReasonText | null,
  logprobs: LogprobEntry[] | null = null,
) {
  return {
    id: meta.id,
    object: "chat.completion.chunk" as const,
    created: meta.created,
    model: meta.model,
    system_fingerprint: null,
    choices: [{ index: 0, delta, logprobs: logprobs ? { content: logprobs } : null, finish_reason: finish }],
  };
}

/** The usage-only chunk sent last when stream_options.include_usage is set. */
export function usageChunkBody(meta: CompletionMeta, u: Usage) {
  return { id: meta.id, object: "chat.completion.chunk" as const, created: meta.created, model: meta.model, system_fingerprint: null, choices: [], usage: u };
}

/** An SSE `data:` frame (with an `event:` line when `event` is given). */
export function sse(data: unknown, event?: string): string {
  const line = `data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`;
  return event ? `event: ${event}\n${line}` : line;
}

export const SSE_DONE = "data: [DONE]\n\n";
