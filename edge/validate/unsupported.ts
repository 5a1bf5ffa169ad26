/**
 * OpenAI parameters this edge cannot honour, per endpoint. A client that
 * sends one with a value that asks for something (a tool call, JSON output,
 * a logit bias, a penalty, several choices, audio or image input) gets a 400
 * naming it, as OpenAI answers for a model without that feature, instead of
 * plain text and a 200. Values that mean "not used" (absent, null,
 * `tools: []`, `tool_choice: "none"`, `response_format: {"type": "text"}`,
 * `logit_bias: {}`, penalties of 0, `n: 1`) pass.
 */

export interface Rule {
  param: string;
  /** What the model lacks, for the message. */
  feature: string;
  /** The values that ask for nothing (null and absent always do). */
  noop: (value: unknown) => boolean;
  /** How a client says "not used", for the message. */
  instead: string;
  /** Where the value is, for a nested parameter (default: body[param]). */
  get?: (body: Record<string, unknown>) => unknown;
}

export interface Unsupported {
  param: string;
  message: string;
}

export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const emptyArray = (v: unknown) => Array.isArray(v) && v.length === 0;
/** With no tools, "auto" cannot call one either. */
const noToolCall = (v: unknown) => v === "none" || v === "auto";
const never = () => false;
const one = (v: unknown) => v === 1;
const zero = (v: unknown) => v === 0;

const TOOLS: Rule[] = [
  { param: "tools", feature: "tools", noop: emptyArray, instead: "[]" },
  { param: "tool_choice", feature: "tools", noop: noToolCall, instead: '"none"' },
];
const PENALTIES: Rule[] = [
  { param: "logit_bias", feature: "logit_bias", noop: (v) => isObject(v) && Object.values(v).every((b) => b === 0), instead: "{}" },
  { param: "presence_penalty", feature: "presence_penalty", noop: zero, instead: "0" },
  { param: "frequency_penalty", feature: "frequency_penalty", noop: zero, instead: "0" },
];
const N: Rule = { param: "n", feature: "more than one choice (n > 1)", noop: one, instead: "1" };

export const CHAT_RULES: readonly Rule[] = [
  ...TOOLS,
  { param: "functions", feature: "function calling", noop: emptyArray, instead: "[]" },
  { param: "function_call", feature: "function calling", noop: noToolCall, instead: '"none"' },
  { param: "response_format", feature: "structured output (JSON mode or JSON schemas)", noop: (v) => isObject(v) && v.type === "text", instead: '{"type": "text"}' },
  ...PENALTIES,
  N,
  { param: "audio", feature: "audio output", noop: never, instead: "null" },
  { param: "modalities", feature: "audio output", noop: (v) => Array.isArray(v) && v.every((m) => m === "text"), instead: '["text"]' },
  { param: "web_search_options", feature: "web search", noop: never, instead: "null" },
  { param: "reasoning_effort", feature: "reasoning_effort", noop: never, instead: "null" },
];

export const RESPONSES_RULES: readonly Rule[] = [
  ...TOOLS,
  {
    param: "text.format",
    feature: "structured output (JSON mode or JSON schemas)",
    noop: (v) => isObject(v) && v.type === "text",
    instead: '{"type": "text"}',
    get: (b) => (isObject(b.text) ? b.text.format : undefined),
  },
  { param: "reasoning", feature: "reasoning", noop: (v) => isObject(v) && Object.values(v).every((x) => x === null || x === undefined), instead: "null" },
  { param: "background", feature: "background responses", noop: (v) => v === false, instead: "false" },
  { param: "conversation", feature: "conversations (the edge stores nothing)", noop: never, instead: "null" },
  { param: "prompt", feature: "stored prompt templates", noop: never, instead: "null" },
  { param: "max_tool_calls", feature: "tools", noop: never, instead: "null" },
];

export const COMPLETIONS_RULES: readonly Rule[] = [
  N,
  { param: "best_of", feature: "best_of > 1", noop: one, instead: "1" },
  { param: "echo", feature: "echo", noop: (v) => v === false, instead: "false" },
  { param: "suffix", feature: "suffix (insertion)", noop: (v) => v === "", instead: "null" },
  ...PENALTIES,
];

/** The first parameter of `body` that asks for something this edge cannot do, or null. */
export function unsupportedParameter(body: Record<string, unknown>, rules: readonly Rule[] = CHAT_RULES): Unsupported | null {
  for (const rule of rules) {
    const value = rule.get ? rule.get(body) : body[rule.param];
    if (value === undefined || value === null || rule.noop(value)) continue;
    return { param: rule.param, message: `${rule.param}: this model does not support ${rule.feature}; leave ${rule.param} out or send ${rule.instead}` };
  }
  return null;
}

/** What a content part of a type other than text asks for. */
const PART_FEATURES: Record<string, string> = {
  image_url: "image input",
  input_image: "image input",
  input_audio: "audio input",
  file: "file input",
  input_file: "file input",
};

/**
 * The first content part of a message list that is not text (an image, audio,
 * a file), refused naming the message's content, or null. `textTypes` are the
 * part types that carry text on this endpoint.
 */
export function unsupportedPart(messages: unknown, field: string, textTypes: readonly string[]): Unsupported | null {
  if (!Array.isArray(messages)) return null;
  for (let i = 0; i < messages.length; i++) {
    const content = isObject(messages[i]) ? messages[i].content : undefined;
    if (!Array.isArray(content)) continue;
    for (const part of content) {
      const type = isObject(part) ? part.type : undefined;
      if (typeof type !== "string" || textTypes.includes(type)) continue;
      const param = `${field}[${i}].content`;
      const feature = PART_FEATURES[type] ?? `content parts of type "${type.slice(0, 40)}"`;
      return { param, message: `${param}: this model does not support ${feature}; send ${textTypes.map((t) => `"${t}"`).join(" or ")} parts only` };
    }
  }
  return null;
}
