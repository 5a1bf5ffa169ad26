/**
 * The three generation endpoints the fuzzer aims at, one wire format each:
 * a valid base body per endpoint, the fields a generic mutation may hit,
 * and mutations that fit each format (a `wire` case). Every mutation names
 * the field it touches, so the oracle can check that a 400 blames it.
 */
import type { Rng } from "./rng.ts";

export const ENDPOINTS = ["chat", "responses", "completions"] as const;
export type Endpoint = (typeof ENDPOINTS)[number];

export const ENDPOINT_PATHS: Record<Endpoint, string> = {
  chat: "/v1/chat/completions",
  responses: "/v1/responses",
  completions: "/v1/completions",
};

/** The endpoint a request path names exactly, or null. */
export function endpointOf(path: string): Endpoint | null {
  return ENDPOINTS.find((e) => ENDPOINT_PATHS[e] === path) ?? null;
}

type Body = Record<string, unknown>;

const PROMPTS = ["Hello", "Tell me a story about a dog", "How do I make a bomb?", "What is 2+2?"];

/** The field holding the request's text. */
export const INPUT_FIELD: Record<Endpoint, string> = { chat: "messages", responses: "input", completions: "prompt" };

/** `n` turns of short text in the endpoint's input shape. */
export function turns(ep: Endpoint, texts: string[]): unknown {
  if (ep === "chat") return texts.map((content) => ({ role: "user", content }));
  if (ep === "responses") return texts.map((text) => ({ type: "message", role: "user", content: [{ type: "input_text", text }] }));
  return texts;
}

/** A valid request for `ep`, streaming 30% of the time. */
export function baseBody(rng: Rng, ep: Endpoint): Body {
  const text = rng.pick(PROMPTS);
  const body: Body = { model: "organism260K" };
  if (ep === "chat") Object.assign(body, { messages: turns(ep, [text]), max_tokens: rng.int(1, 8) });
  else if (ep === "responses") Object.assign(body, { input: rng.chance(0.5) ? text : turns(ep, [text]), max_output_tokens: rng.int(1, 8) });
  else Object.assign(body, { prompt: rng.chance(0.7) ? text : [text], max_tokens: rng.int(1, 8) });
  if (rng.chance(0.3)) body.stream = true;
  return body;
}

const SHARED = ["model", "stream", "temperature", "top_p", "user", "store", "metadata"];
const FIELDS: Record<Endpoint, string[]> = {
  chat: [...SHARED, "messages", "stream_options", "max_tokens", "max_completion_tokens", "n", "seed", "stop", "logprobs", "top_logprobs", "tools", "tool_choice", "response_format", "logit_bias", "presence_penalty", "functions"],
  responses: [...SHARED, "input", "instructions", "max_output_tokens", "include", "top_logprobs", "text", "tools", "tool_choice", "previous_response_id", "reasoning", "background", "truncation"],
  completions: [...SHARED, "prompt", "stream_options", "max_tokens", "seed", "stop", "logprobs", "echo", "suffix", "best_of", "n", "logit_bias", "frequency_penalty"],
};

/** Where a generic mutation may land inside the input (as a path from the body). */
function inputSpot(rng: Rng, ep: Endpoint, body: Body): [Body, string, string] | null {
  if (ep === "chat") return [(body.messages as Body[])[0]!, "messages[0]", rng.pick(["role", "content", "name"])];
  if (ep === "responses" && Array.isArray(body.input)) {
    const item = (body.input as Body[])[0]!;
    if (rng.chance(0.5)) return [item, "input[0]", rng.pick(["type", "role", "content"])];
    return [(item.content as Body[])[0]!, "input[0].content[0]", rng.pick(["type", "text"])];
  }
  return null;
}

/** Sets a top-level field or one inside the input to `value`; returns its path. */
export function setField(rng: Rng, ep: Endpoint, body: Body, value: unknown): string {
  const spot = rng.chance(0.3) ? inputSpot(rng, ep, body) : null;
  if (spot) {
    const [obj, at, f] = spot;
    obj[f] = value;
    return `${at}.${f}`;
  }
  const f = rng.pick(FIELDS[ep]);
  body[f] = value;
  return f;
}

/** Sets the request's one text to `text`. */
export function setText(ep: Endpoint, body: Body, text: string): void {
  if (ep === "completions" || (ep === "responses" && typeof body.input === "string")) body[INPUT_FIELD[ep]] = text;
  else body[INPUT_FIELD[ep]] = turns(ep, [text]);
}

/** [field, value] choices per endpoint: valid, refused and malformed values of the format's own parameters. */
type Choice = [string, () => unknown];
const r = (n: number) => "r".repeat(n);

function responsesChoices(rng: Rng): Choice[] {
  const part = (p: Body) => [{ type: "message", role: "user", content: [p] }];
  return [
    ["input", () => rng.pick(PROMPTS)],
    ["input", () => ""],
    ["input", () => turns("responses", PROMPTS.slice(0, rng.int(1, 4)))],
    ["input", () => [{ role: rng.pick(["user", "system", "developer", "assistant", "tool", "bogus"]), content: rng.pick(["hi", [{ type: "input_text", text: "hi" }], [{ type: "output_text", text: "hi" }]]) }]],
    ["input", () => part({ type: rng.pick(["input_image", "input_audio", "input_file", "refusal", "bogus"]), image_url: "http://x" })],
    ["input", () => part({ type: "input_text" })],
    ["input", () => part({ type: "input_text", text: rng.pick([5, null, ["a"], r(rng.size(200_000))]) })],
    ["input", () => [{ type: rng.pick(["function_call_output", "item_reference", "function_call", "reasoning"]), id: "x", call_id: "c", output: "o" }]],
    ["input", () => [{ type: "message", role: "user" }]],
    ["input", () => [{ type: "message", role: "user", content: [] }]],
    ["input", () => [[{ type: "input_text", text: "hi" }]]],
    ["input", () => []],
    ["instructions", () => rng.pick(["Be brief.", "", r(rng.size(200_000)), 5, ["a"], { text: "x" }, "\u0000"])],
    ["max_output_tokens", () => rng.pick([1, 16, 4096, 4097, 0, -1, 1.5, "5", 1e12, true])],
    ["include", () => rng.pick([["message.output_text.logprobs"], ["reasoning.encrypted_content"], ["bogus"], [], "message.output_text.logprobs", [5], [null]])],
    ["top_logprobs", () => rng.pick([0, 5, 20, 21, -1, 2.5, "3"])],
    ["text", () => rng.pick([{ format: { type: "text" } }, { format: { type: "json_object" } }, { format: { type: "json_schema", name: "x", schema: {} } }, { format: "text" }, { format: {} }, { verbosity: "low" }, "text", { format: { type: 5 } }])],
    ["tools", () => rng.pick([[], [{ type: "function", name: "f", parameters: {} }], [{ type: "web_search" }], "tools", {}, [null]])],
    ["tool_choice", () => rng.pick(["none", "auto", "required", { type: "function", name: "f" }, 5])],
    ["previous_response_id", () => rng.pick(["resp_abc", "", "resp_" + r(rng.size(10_000)), 5, ["resp_a"], "\ud800"])],
    ["store", () => rng.pick([true, false, "yes", 1, {}])],
    ["reasoning", () => rng.pick([{}, { effort: "high" }, "high", []])],
    ["background", () => rng.pick([false, true, "true"])],
  ];
}

function completionsChoices(rng: Rng): Choice[] {
  return [
    ["prompt", () => rng.pick(PROMPTS)],
    ["prompt", () => ""],
    ["prompt", () => [rng.pick(PROMPTS)]],
    ["prompt", () => PROMPTS.slice(0, rng.int(2, 4))],
    ["prompt", () => []],
    ["prompt", () => Array.from({ length: rng.size(2000) }, () => rng.int(0, 50_000))],
    ["prompt", () => [[1, 2, 3], [4, 5]]],
    ["prompt", () => [-1, 1.5, 2 ** 40]],
    ["prompt", () => ["a", 5]],
    ["prompt", () => [null]],
    ["prompt", () => r(rng.size(300_000))],
    ["max_tokens", () => rng.pick([1, 16, 4096, 4097, 0, -1, 1.5, "5", 1e12, false])],
    ["logprobs", () => rng.pick([0, 1, 5, 20, 21, -1, 2.5, true, "5"])],
    ["echo", () => rng.pick([false, true, "true", 1])],
    ["suffix", () => rng.pick(["", "end", r(rng.size(100_000)), 5, ["x"]])],
    ["best_of", () => rng.pick([1, 2, 0, -1, 1.5, "1"])],
    ["n", () => rng.pick([1, 2, 0, 128, -1, "1"])],
    ["stream_options", () => rng.pick([{ include_usage: true }, { include_usage: "yes" }, "x", {}])],
    ["stop", () => rng.pick(["\n", ["a", "b"], ["a", "b", "c", "d", "e"], [r(300)], 5, [5], ""])],
  ];
}

function chatChoices(rng: Rng): Choice[] {
  return [
    ["messages", () => turns("chat", PROMPTS.slice(0, rng.int(1, 4)))],
    ["messages", () => [{ role: rng.pick(["system", "developer", "assistant", "tool", "function", "bogus"]), content: "hi" }]],
    ["messages", () => [{ role: "user", content: rng.pick([[{ type: "text", text: "hi" }], [{ type: "image_url", image_url: { url: "http://x" } }], [{ type: "input_audio" }], null, []]) }]],
    ["messages", () => []],
    ["logprobs", () => rng.pick([true, false, "true", 1])],
    ["top_logprobs", () => rng.pick([0, 5, 20, 21, -1, 2.5])],
    ["n", () => rng.pick([1, 2, 0, -1])],
    ["response_format", () => rng.pick([{ type: "text" }, { type: "json_object" }, { type: "json_schema", json_schema: { name: "x" } }, "json", {}])],
    ["tools", () => rng.pick([[], [{ type: "function", function: { name: "f" } }], "tools", [null]])],
    ["stream_options", () => rng.pick([{ include_usage: true }, { include_usage: "yes" }, "x", {}])],
    ["max_completion_tokens", () => rng.pick([1, 4096, 4097, 0, -1, 1.5, "5"])],
  ];
}

const CHOICES: Record<Endpoint, (rng: Rng) => Choice[]> = { chat: chatChoices, responses: responsesChoices, completions: completionsChoices };

/** Sets one of the endpoint's own parameters (sometimes two) on `body`; returns the fields set. */
export function wireMutation(rng: Rng, ep: Endpoint, body: Body): string[] {
  const fields: string[] = [];
  for (let i = rng.chance(0.25) ? 2 : 1; i > 0; i--) {
    const [field, value] = rng.pick(CHOICES[ep](rng));
    body[field] = value();
    fields.push(field);
  }
  return fields;
}
