/**
 * POST /v1/chat/completions: the adapter between the chat completions wire
 * format and the shared request pipeline (edge/pipeline): the validated body
 * as a PipelineRequest (messages as turns, sampling), and its answer as a
 * chat.completion or chat.completion.chunk frames (format.ts). Chat is the
 * one format with an upstream path: the validated body goes to the upstream
 * as it is.
 */
import type { Adapter } from "../pipeline/format.ts";
import { pipelineRequest, type PipelineRequest } from "../pipeline/request.ts";
import { chatRequestSchema, refuseChat, type ChatRequest } from "../validate/index.ts";
import { chatFormat } from "./format.ts";

function messageText(content: string | Array<{ text: string }> | null): string {
  if (typeof content === "string") return content;
  if (!content) return "";
  return content.map((p) => p.text).join("\n");
}

/** The pipeline request for a validated chat request. */
export function chatPipelineRequest(body: ChatRequest): PipelineRequest {
  return pipelineRequest(body, {
    risk: body.messages,
    input: { kind: "turns", turns: body.messages.map((m) => ({ role: m.role === "developer" ? "system" : m.role, content: messageText(m.content) })) },
    maxTokens: body.max_completion_tokens ?? body.max_tokens ?? null,
    logprobs: body.logprobs === true ? (body.top_logprobs ?? 0) : null,
    eventPrompt: body.messages,
    upstream: body,
  });
}

export const chatAdapter: Adapter<ChatRequest> = {
  endpoint: "chat.completions",
  schema: chatRequestSchema,
  refuse: refuseChat,
  prepare(body, { requestId, created }) {
    const request = chatPipelineRequest(body);
    const meta = { id: `chatcmpl-${requestId}`, created, model: body.model };
    const includeUsage = request.stream && body.stream_options?.include_usage === true;
    return { request, format: chatFormat(meta, { includeUsage, topLogprobs: request.sampling.logprobs }) };
  },
};
