/**
 * What a wire format adapter gives the pipeline: its answer as a JSON body,
 * and as an SSE event sequence written piece by piece. The pipeline produces
 * the neutral answer (text, logprobs, finish reason, usage); the format only
 * renders it.
 */
import { FinishReason, type PositionLogprobs } from "../../proto/gen/steerguard/v1/sidecar.ts";
import type { FinishReasonText, OpenAIErrorBody, Usage } from "../openai/index.ts";
import type * as v from "valibot";
import type { Config } from "../config/index.ts";
import type { PipelineRequest } from "./request.ts";

export interface Finish {
  reason: FinishReasonText;
  usage: Usage;
}

/** A whole answer (non-streaming, or the edge's own refusal). */
export interface Answer extends Finish {
  text: string;
  logprobs: PositionLogprobs[];
}

/** Writes one stream's frames; it may keep state (sequence numbers, the text so far). */
export interface StreamWriter {
  /** The frames that open the answer, before any text. */
  start(): string;
  /** A frame for a piece of text and its logprobs; "" when there is nothing to send. */
  delta(text: string, logprobs: PositionLogprobs[]): string;
  /** The closing frames: finish reason, usage and the end marker. */
  finish(done: Finish): string;
  /** The frame that ends a stream on an error. */
  error(body: OpenAIErrorBody): string;
}

export interface WireFormat {
  /** The non-streaming JSON body. */
  body(answer: Answer): unknown;
  stream(): StreamWriter;
}

/** A parameter refused before the schema runs (400 naming it). */
export interface Refusal {
  param: string;
  message: string;
  code: string;
}

/** One endpoint's adapter: its schema, what it refuses, and its conversions to and from the pipeline. */
export interface Adapter<Body> {
  /** Which endpoint this is, as decision events name it ("chat.completions", "responses", "completions"). */
  endpoint: string;
  /** The request schema for the configured limits (valibot; unknown fields dropped). */
  schema(limits: Config["limits"]): v.GenericSchema<unknown, Body>;
  /** Parameters this endpoint cannot honour (checked on the raw JSON object before the schema). */
  refuse(body: Record<string, unknown>): Refusal | null;
  /** The pipeline request and the wire format for a validated body. */
  prepare(body: Body, ids: { requestId: string; created: number }): { request: PipelineRequest; format: WireFormat };
}

export function finishText(reason: FinishReason | undefined): FinishReasonText {
  return reason === FinishReason.FINISH_REASON_LENGTH ? "length" : "stop";
}
