/**
 * OpenAI chat parameters this edge cannot honour. A client that sends one
 * with a value that asks for something (a tool call, JSON output, a logit
 * bias, a penalty) gets a 400 naming it, as OpenAI answers for a model
 * without that feature, instead of plain text and a 200. Values that mean
 * "not used" (absent, null, `tools: []`, `tool_choice: "none"`,
 * `response_format: {"type": "text"}`, `logit_bias: {}`, penalties of 0) pass.
 */

interface Rule {
  param: string;
  /** What the model lacks, for the message. */
  feature: string;
  /** The values that ask for nothing (null and absent always do). */
  noop: (value: unknown) => boolean;
  /** How a client says "not used", for the message. */
  instead: string;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const emptyArray = (v: unknown) => Array.isArray(v) && v.length === 0;
/** With no tools, "auto" cannot call one either. */
const noToolCall = (v: unknown) => v === "none" || v === "auto";
const never = () => false;

const RULES: Rule[] = [
  { param: "tools", feature: "tools", noop: emptyArray, instead: "[]" },
  { param: "tool_choice", feature: "tools", noop: noToolCall, instead: '"none"' },
  { param: "functions", feature: "function calling", noop: emptyArray, instead: "[]" },
  { param: "function_call", feature: "function calling", noop: noToolCall, instead: '"none"' },
  { param: "response_format", feature: "structured output (JSON mode or JSON schemas)", noop: (v) => isObject(v) && v.type === "text", instead: '{"type": "text"}' },
  { param: "logit_bias", feature: "logit_bias", noop: (v) => isObject(v) && Object.values(v).every((b) => b === 0), instead: "{}" },
  { param: "presence_penalty", feature: "presence_penalty", noop: (v) => v === 0, instead: "0" },
  { param: "frequency_penalty", feature: "frequency_penalty", noop: (v) => v === 0, instead: "0" },
  { param: "audio", feature: "audio output", noop: never, instead: "null" },
  { param: "modalities", feature: "audio output", noop: (v) => Array.isArray(v) && v.every((m) => m === "text"), instead: '["text"]' },
  { param: "web_search_options", feature: "web search", noop: never, instead: "null" },
  { param: "reasoning_effort", feature: "reasoning_effort", noop: never, instead: "null" },
];

export interface Unsupported {
  param: string;
  message: string;
}

/** The first parameter of `body` that asks for something this edge cannot do, or null. */
export function unsupportedParameter(body: Record<string, unknown>): Unsupported | null {
  for (const rule of RULES) {
    const value = body[rule.param];
    if (value === undefined || value === null || rule.noop(value)) continue;
    return { param: rule.param, message: `${rule.param}: this model does not support ${rule.feature}; leave ${rule.param} out or send ${rule.instead}` };
  }
  return null;
}
