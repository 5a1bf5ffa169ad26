/**
 * POST /v1/responses: the adapter between the Responses API and the shared
 * request pipeline (edge/pipeline). `input` is a string (one user turn) or a
 * list of message items (roles user, system, developer, assistant; content a
 * string or input_text / output_text parts); `instructions` goes first as a
 * system turn. The classifier scores instructions plus the input turns.
 * Nothing is stored: `store` is accepted and the response says `store:
 * false`; `previous_response_id` is refused as OpenAI refuses an unknown id
 * (400, param previous_response_id, code previous_response_not_found).
 * Responses have no upstream path (the upstream speaks chat completions):
 * the sidecar answers them, and the failure policy's upstream fallback is a
 * 503 instead.
 */
import * as v from "valibot";
import type { Adapter, Refusal } from "../pipeline/format.ts";
import { pipelineRequest, type PipelineRequest, type Turn } from "../pipeline/request.ts";
import { common, maxTokens, name, opt, topLogprobs, withinContentLimit, type Limits } from "../validate/fields.ts";
import { isObject, RESPONSES_RULES, unsupportedParameter, unsupportedPart } from "../validate/unsupported.ts";
import { responsesFormat } from "./format.ts";

const TEXT_PARTS = ["input_text", "output_text", "text"] as const;
export const LOGPROBS_INCLUDE = "message.output_text.logprobs";

export function responsesRequestSchema(limits: Limits) {
  const part = v.object({ type: v.picklist(TEXT_PARTS, "content parts must be input_text or output_text"), text: v.string() });
  const item = v.object({
    type: v.optional(v.literal("message")),
    role: v.picklist(["system", "developer", "user", "assistant"], "role must be system, developer, user or assistant"),
    content: v.pipe(v.union([v.string(), v.array(part)], "content must be a string or an array of input_text parts"), withinContentLimit<string | Array<{ type: (typeof TEXT_PARTS)[number]; text: string }>>(limits)),
  });
  return v.object({
    ...common,
    input: v.union(
      [v.pipe(v.string(), withinContentLimit<string>(limits, "input")), v.pipe(v.array(item), v.minLength(1, "input must not be empty"), v.maxLength(limits.max_messages, `at most ${limits.max_messages} input items`))],
      "input must be a string or an array of message items",
    ),
    instructions: opt(v.pipe(v.string(), withinContentLimit<string>(limits, "instructions"))),
    max_output_tokens: opt(maxTokens(limits)),
    top_logprobs: topLogprobs,
    include: opt(v.pipe(v.array(name("an include value")), v.maxLength(16, "at most 16 include values"))),
    store: opt(v.boolean()),
  });
}

export type ResponsesRequest = v.InferOutput<ReturnType<typeof responsesRequestSchema>>;
type Item = Exclude<ResponsesRequest["input"], string>[number];

/** What the Responses endpoint refuses before its schema. */
export function refuseResponses(body: Record<string, unknown>): Refusal | null {
  const id = body.previous_response_id;
  if (id !== undefined && id !== null) {
    const shown = typeof id === "string" ? id.slice(0, 64) : "";
    return {
      param: "previous_response_id",
      code: "previous_response_not_found",
      message: `previous_response_id: Previous response with id '${shown}' not found. This server stores no responses (store is accepted and ignored); send the whole conversation as input instead.`,
    };
  }
  const r = unsupportedParameter(body, RESPONSES_RULES) ?? unsupportedItem(body.input) ?? unsupportedPart(body.input, "input", TEXT_PARTS);
  return r && { ...r, code: "unsupported_parameter" };
}

/** An input item other than a message (a function call output, an item reference, reasoning...). */
function unsupportedItem(input: unknown) {
  if (!Array.isArray(input)) return null;
  const i = input.findIndex((it) => isObject(it) && it.type !== undefined && it.type !== "message");
  if (i < 0) return null;
  const type = String((input[i] as { type: unknown }).type).slice(0, 40);
  return { param: `input[${i}]`, message: `input[${i}]: this model does not support input items of type "${type}" (tools, reasoning and item references); send message items only` };
}

const itemText = (c: Item["content"]) => (typeof c === "string" ? c : c.map((p) => p.text).join("\n"));

/** Instructions first (as a system turn), then the input turns. */
function turnsOf(body: ResponsesRequest): Turn[] {
  const turns: Turn[] = body.instructions ? [{ role: "system", content: body.instructions }] : [];
  if (typeof body.input === "string") return [...turns, { role: "user", content: body.input }];
  for (const it of body.input) turns.push({ role: it.role === "developer" ? "system" : it.role, content: itemText(it.content) });
  return turns;
}

export function responsesPipelineRequest(body: ResponsesRequest): PipelineRequest {
  const turns = turnsOf(body);
  return pipelineRequest(body, {
    risk: turns,
    input: { kind: "turns", turns },
    maxTokens: body.max_output_tokens ?? null,
    logprobs: body.include?.includes(LOGPROBS_INCLUDE) ? (body.top_logprobs ?? 0) : null,
    eventPrompt: turns,
  });
}

export const responsesAdapter: Adapter<ResponsesRequest> = {
  endpoint: "responses",
  schema: responsesRequestSchema,
  refuse: refuseResponses,
  prepare(body, { requestId, created }) {
    const request = responsesPipelineRequest(body);
    const format = responsesFormat({
      id: `resp_${requestId}`,
      messageId: `msg_${requestId}`,
      created_at: created,
      model: body.model,
      instructions: body.instructions ?? null,
      max_output_tokens: body.max_output_tokens ?? null,
      temperature: body.temperature ?? null,
      top_p: body.top_p ?? null,
      user: body.user ?? null,
      topLogprobs: request.sampling.logprobs,
    });
    return { request, format };
  },
};
