/**
 * POST /v1/completions (legacy): a raw prompt, completed as it is (the
 * sidecar's raw-prompt input, no chat template), for models without a chat
 * template and base models. `prompt` is a string or an array of one string;
 * the classifier scores it as one user turn. max_tokens defaults to 16, as
 * OpenAI's does. Completions have no upstream path (the upstream speaks chat
 * completions): the sidecar answers them, and the failure policy's upstream
 * fallback is a 503 instead.
 */
import * as v from "valibot";
import type { Adapter, Refusal } from "../pipeline/format.ts";
import { pipelineRequest, type PipelineRequest } from "../pipeline/request.ts";
import { common, maxTokens, opt, seed, stop, streamOptions, withinContentLimit, type Limits } from "../validate/fields.ts";
import { COMPLETIONS_RULES, unsupportedParameter } from "../validate/unsupported.ts";
import { completionsFormat } from "./format.ts";

/** OpenAI's default max_tokens for legacy completions. */
export const COMPLETIONS_DEFAULT_MAX_TOKENS = 16;

export function completionsRequestSchema(limits: Limits) {
  const prompt = v.pipe(v.string("prompt must be a string"), withinContentLimit<string>(limits, "prompt"));
  return v.object({
    ...common,
    prompt: v.union([prompt, v.pipe(v.array(prompt), v.length(1, "prompt must be one string"), v.transform((a) => a[0]))], "prompt must be a string or an array of one string"),
    stream_options: streamOptions,
    max_tokens: opt(maxTokens(limits)),
    seed,
    stop,
    logprobs: opt(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(20, "must be at most 20"))),
  });
}

export type CompletionsRequest = v.InferOutput<ReturnType<typeof completionsRequestSchema>>;

/** What legacy completions refuses before its schema: COMPLETIONS_RULES, several prompts, token-id prompts. */
export function refuseCompletions(body: Record<string, unknown>): Refusal | null {
  const r = unsupportedParameter(body, COMPLETIONS_RULES) ?? unsupportedPrompt(body.prompt);
  return r && { ...r, code: "unsupported_parameter" };
}

function unsupportedPrompt(prompt: unknown) {
  if (!Array.isArray(prompt)) return null;
  if (prompt.length > 1) return { param: "prompt", message: "prompt: this model does not support several prompts in one request; send one prompt per request" };
  if (prompt.length === 1 && (typeof prompt[0] === "number" || Array.isArray(prompt[0]))) {
    return { param: "prompt", message: "prompt: this model does not support token-id prompts; send the prompt as text" };
  }
  return null;
}

export function completionsPipelineRequest(body: CompletionsRequest): PipelineRequest {
  return pipelineRequest(body, {
    risk: [{ role: "user", content: body.prompt }],
    input: { kind: "prompt", prompt: body.prompt },
    maxTokens: body.max_tokens ?? null,
    logprobs: body.logprobs ?? null,
    defaultMaxTokens: COMPLETIONS_DEFAULT_MAX_TOKENS,
    eventPrompt: body.prompt,
  });
}

export const completionsAdapter: Adapter<CompletionsRequest> = {
  endpoint: "completions",
  schema: completionsRequestSchema,
  refuse: refuseCompletions,
  prepare(body, { requestId, created }) {
    const request = completionsPipelineRequest(body);
    const meta = { id: `cmpl-${requestId}`, created, model: body.model };
    const includeUsage = request.stream && body.stream_options?.include_usage === true;
    return { request, format: completionsFormat(meta, { includeUsage, logprobs: request.sampling.logprobs }) };
  },
};
