/**
 * The request every wire format (chat completions, responses, legacy
 * completions) is converted to, and the sidecar request built from it.
 */
import { GenerateRequest, type SteeringRequest } from "../../proto/gen/steerguard/v1/sidecar.ts";
import type { RiskMessage } from "../risk/index.ts";
import type { Decision } from "../routing/index.ts";

/** One turn as the sidecar's chat template takes it ("developer" is sent as "system"). */
export interface Turn {
  role: "system" | "user" | "assistant";
  content: string;
}

export interface Sampling {
  /** null: the endpoint's default. */
  maxTokens: number | null;
  temperature: number | null;
  topP: number | null;
  seed: number | null;
  stop: string[];
  /** Alternatives per token when the client asked for logprobs; null: no logprobs. */
  logprobs: number | null;
}

export interface PipelineRequest {
  model: string;
  /** Picks the A/B arm (else the key id). */
  user: string | null;
  stream: boolean;
  /** What the risk classifier scores (a raw prompt: one user turn). */
  risk: readonly RiskMessage[];
  /** What the sidecar completes: turns through the model's chat template, or a raw prompt. */
  input: { kind: "turns"; turns: Turn[] } | { kind: "prompt"; prompt: string };
  sampling: Sampling;
  /** max_tokens when the client gave none; null: the configured limits.default_max_tokens. */
  defaultMaxTokens: number | null;
  /** The prompt as events.include_text records it. */
  eventPrompt: unknown;
  /** The chat completions body an upstream gets; null: this wire format has no upstream path. */
  upstream: Record<string, unknown> | null;
}

/** The sidecar request for a request and its routing decision. */
export function toGenerateRequest(req: PipelineRequest, requestId: string, decision: Decision, configMaxTokens: number): GenerateRequest {
  const s = req.sampling;
  return GenerateRequest.fromPartial({
    requestId,
    input: req.input.kind === "prompt" ? { $case: "prompt", value: req.input.prompt } : { $case: "conversation", value: { messages: req.input.turns } },
    sampling: {
      maxTokens: s.maxTokens ?? req.defaultMaxTokens ?? configMaxTokens,
      temperature: s.temperature ?? undefined,
      topP: s.topP ?? undefined,
      seed: s.seed ?? undefined,
      stop: s.stop,
      logprobs: s.logprobs === null ? 0 : Math.max(1, s.logprobs),
    },
    steering: steeringRequest(decision),
  });
}

/** The decision's steering as the sidecar takes it; profile "" = a steered route without a steering field (see edge/config/README.md). */
function steeringRequest({ steering: s }: Decision): SteeringRequest | undefined {
  if (!s || s.profile === "") return undefined;
  return { profile: s.profile, strength: s.strength, conditional: s.conditional === true, conditionThreshold: s.condition_threshold };
}

/** The parameters with the same name and meaning on every endpoint. */
export interface CommonBody {
  model: string;
  user?: string | null;
  stream?: boolean | null;
  temperature?: number | null;
  top_p?: number | null;
  seed?: number | null;
  stop?: string | string[] | null;
}

/** What an endpoint says in its own words. */
export interface OwnFields extends Pick<PipelineRequest, "risk" | "input" | "eventPrompt"> {
  maxTokens: number | null;
  logprobs: number | null;
  /** Default: the configured limits.default_max_tokens. */
  defaultMaxTokens?: number;
  /** Default: none (no upstream path). */
  upstream?: Record<string, unknown>;
}

/** A pipeline request from the common parameters and an endpoint's own. */
export function pipelineRequest(body: CommonBody, own: OwnFields): PipelineRequest {
  const stop = body.stop == null ? [] : typeof body.stop === "string" ? [body.stop] : body.stop;
  return {
    model: body.model,
    user: body.user ?? null,
    stream: body.stream === true,
    risk: own.risk,
    input: own.input,
    sampling: { maxTokens: own.maxTokens, temperature: body.temperature ?? null, topP: body.top_p ?? null, seed: body.seed ?? null, stop, logprobs: own.logprobs },
    defaultMaxTokens: own.defaultMaxTokens ?? null,
    eventPrompt: own.eventPrompt,
    upstream: own.upstream ?? null,
  };
}
