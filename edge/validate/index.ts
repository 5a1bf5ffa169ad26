/**
 * Request validation for POST /v1/chat/completions: the body read with a size
 * cap (413) and a deadline (408), JSON parsing (400), parameters the model
 * cannot honour (400 naming it, see unsupported.ts), and the OpenAI chat
 * request schema with the configured limits (400 naming the field, e.g.
 * `messages[2].content`). Other unknown fields are dropped. Every string the
 * edge echoes or logs has a length limit, and `model` must be printable.
 */
import type { MiddlewareHandler } from "hono";
import * as v from "valibot";
import type { Config } from "../config/index.ts";
import { errorResponse } from "../openai/index.ts";
import { readBody } from "./body.ts";
import { unsupportedParameter } from "./unsupported.ts";

export type Limits = Config["limits"];

const TextPart = v.object({ type: v.literal("text"), text: v.string() });

/** Longest model name, user, message name and stop string (in UTF-16 code units). */
export const MAX_NAME_CHARS = 256;

/** C0 and C1 control characters (NUL included), and UTF-16 surrogates without their pair. */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * A JSON object: valibot's object() also takes an array (an array has none
 * of the keys, and they are all optional), so `stream_options: []` passed.
 */
const jsonObject = <const E extends v.ObjectEntries>(entries: E, message: string) =>
  v.pipe(
    v.custom<Record<string, unknown>>((x) => typeof x === "object" && x !== null && !Array.isArray(x), message),
    v.object(entries, message),
  );

const name = (field: string) => v.pipe(v.string(), v.maxLength(MAX_NAME_CHARS, `${field} is longer than ${MAX_NAME_CHARS} characters`));

/** Builds the chat request schema for the given limits. */
export function chatRequestSchema(limits: Limits) {
  const content = v.pipe(
    v.union([v.string(), v.array(TextPart), v.null()], "content must be a string, an array of text parts, or null"),
    v.check(
      (c) => (typeof c === "string" ? c.length : Array.isArray(c) ? c.reduce((s, p) => s + p.text.length, 0) : 0) <= limits.max_content_chars,
      `content is longer than ${limits.max_content_chars} characters`,
    ),
  );
  const message = v.object({
    role: v.picklist(["system", "developer", "user", "assistant"], "role must be system, developer, user or assistant"),
    content: v.optional(content, null),
    name: v.optional(name("name")),
  });
  const maxTokens = v.pipe(
    v.number("must be an integer"),
    v.integer("must be an integer"),
    v.minValue(1, "must be at least 1"),
    v.maxValue(limits.max_tokens, `must be at most ${limits.max_tokens}`),
  );
  return v.object({
    model: v.pipe(
      v.string("model is required"),
      v.minLength(1, "model is required"),
      v.maxLength(MAX_NAME_CHARS, `model is longer than ${MAX_NAME_CHARS} characters`),
      v.check((m) => !UNPRINTABLE.test(m), "model must not contain control characters (NUL included) or unpaired UTF-16 surrogates"),
    ),
    messages: v.pipe(
      v.array(message, "messages must be an array"),
      v.minLength(1, "messages must not be empty"),
      v.maxLength(limits.max_messages, `at most ${limits.max_messages} messages`),
    ),
    stream: v.optional(v.nullable(v.boolean()), false),
    stream_options: v.optional(v.nullable(jsonObject({ include_usage: v.optional(v.boolean(), false) }, "stream_options must be an object"))),
    max_tokens: v.optional(v.nullable(maxTokens)),
    max_completion_tokens: v.optional(v.nullable(maxTokens)),
    temperature: v.optional(v.nullable(v.pipe(v.number(), v.minValue(0, "must be from 0 to 2"), v.maxValue(2, "must be from 0 to 2")))),
    top_p: v.optional(v.nullable(v.pipe(v.number(), v.minValue(0, "must be from 0 to 1"), v.maxValue(1, "must be from 0 to 1")))),
    n: v.optional(v.nullable(v.pipe(v.number(), v.literal(1, "only n = 1 is supported")))),
    seed: v.optional(v.nullable(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(Number.MAX_SAFE_INTEGER)))),
    stop: v.optional(
      v.nullable(v.union([name("a stop string"), v.pipe(v.array(name("a stop string")), v.maxLength(4, "at most 4 stop strings"))], "stop must be a string or an array of at most 4 strings of at most 256 characters")),
    ),
    logprobs: v.optional(v.nullable(v.boolean())),
    top_logprobs: v.optional(v.nullable(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(20, "must be at most 20")))),
    user: v.optional(v.nullable(name("user"))),
  });
}

export type ChatRequest = v.InferOutput<ReturnType<typeof chatRequestSchema>>;

/** "messages.2.content" -> "messages[2].content" */
function fieldName(issue: v.BaseIssue<unknown>): string | null {
  const path = issue.path;
  if (!path || path.length === 0) return null;
  let s = "";
  for (const item of path) {
    const key = (item as { key: unknown }).key;
    if (typeof key === "number") s += `[${key}]`;
    else s += s ? `.${String(key)}` : String(key);
  }
  return s;
}

export type ValidationResult = { ok: true; value: ChatRequest } | { ok: false; status: 400; message: string; param: string | null; code: string };

/**
 * valibot's default messages quote the value received ("Expected number but
 * received \"...\""), which would echo up to a whole body: quote at most 40
 * characters of it.
 */
function shortMessage(issue: v.BaseIssue<unknown>): string {
  const received = issue.received.length > 40 ? `${issue.received.slice(0, 40)}…` : issue.received;
  return `Invalid ${issue.kind === "schema" ? "type" : issue.type}: Expected ${issue.expected} but received ${received}`;
}

/** Validates an already-parsed body. */
export function validateChatBody(schema: ReturnType<typeof chatRequestSchema>, body: unknown): ValidationResult {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return { ok: false, status: 400, message: "the request body must be a JSON object", param: null, code: "invalid_body" };
  }
  const unsupported = unsupportedParameter(body as Record<string, unknown>);
  if (unsupported) return { ok: false, status: 400, message: unsupported.message, param: unsupported.param, code: "unsupported_parameter" };
  const r = v.safeParse(schema, body, { message: shortMessage });
  if (r.success) return { ok: true, value: r.output };
  // The deepest issue is the most specific one (a union reports its branches' issues).
  const issue = r.issues[0];
  const param = fieldName(issue);
  return { ok: false, status: 400, message: `${param ?? "body"}: ${issue.message}`.slice(0, 300), param, code: "invalid_value" };
}

function parseJson(bytes: Uint8Array, decode: (b: Uint8Array) => string): { ok: true; value: unknown } | { ok: false; message: string } {
  try {
    return { ok: true, value: JSON.parse(decode(bytes)) };
  } catch (err) {
    return { ok: false, message: `body: malformed JSON (${(err as Error).message.slice(0, 200)})` };
  }
}

export type ValidateEnv = { Variables: { chat: ChatRequest } };

/**
 * Middleware: parses and validates the chat request into `c.get("chat")`.
 * The body is parsed as JSON whatever the content-type says (curl sends
 * application/x-www-form-urlencoded by default). A body that could not be
 * read whole (too slow, too large, undecodable) leaves the connection in an
 * unknown state, so that answer asks to close it.
 */
export function validateChat(limits: Limits): MiddlewareHandler<ValidateEnv> {
  const schema = chatRequestSchema(limits);
  const dec = new TextDecoder("utf-8", { fatal: true });
  return async (c, next) => {
    const read = await readBody(c.req.raw, limits.max_body_bytes, limits.body_timeout_ms);
    if (!read.ok) return errorResponse(read.status, read.message, { param: "body", code: read.code, headers: CLOSE });
    const json = parseJson(read.bytes, (b) => dec.decode(b));
    if (!json.ok) return errorResponse(400, json.message, { param: "body", code: "invalid_json" });
    const r = validateChatBody(schema, json.value);
    if (!r.ok) return errorResponse(r.status, r.message, { param: r.param, code: r.code });
    c.set("chat", r.value);
    await next();
  };
}

const CLOSE = { connection: "close" };
