/**
 * Request validation for POST /v1/chat/completions: a body-size cap (413),
 * JSON parsing (400), and the OpenAI chat request schema with the configured
 * limits (400 naming the field, e.g. `messages[2].content`). Unknown fields are
 * dropped, as OpenAI ignores fields it does not use.
 */
import type { MiddlewareHandler } from "hono";
import * as v from "valibot";
import type { Config } from "../config/index.ts";
import { errorResponse } from "../openai/index.ts";

export type Limits = Config["limits"];

const TextPart = v.object({ type: v.literal("text"), text: v.string() });

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
    name: v.optional(v.string()),
  });
  const maxTokens = v.pipe(
    v.number("must be an integer"),
    v.integer("must be an integer"),
    v.minValue(1, "must be at least 1"),
    v.maxValue(limits.max_tokens, `must be at most ${limits.max_tokens}`),
  );
  return v.object({
    model: v.pipe(v.string("model is required"), v.minLength(1, "model is required")),
    messages: v.pipe(
      v.array(message, "messages must be an array"),
      v.minLength(1, "messages must not be empty"),
      v.maxLength(limits.max_messages, `at most ${limits.max_messages} messages`),
    ),
    stream: v.optional(v.nullable(v.boolean()), false),
    stream_options: v.optional(v.nullable(v.object({ include_usage: v.optional(v.boolean(), false) }))),
    max_tokens: v.optional(v.nullable(maxTokens)),
    max_completion_tokens: v.optional(v.nullable(maxTokens)),
    temperature: v.optional(v.nullable(v.pipe(v.number(), v.minValue(0, "must be from 0 to 2"), v.maxValue(2, "must be from 0 to 2")))),
    top_p: v.optional(v.nullable(v.pipe(v.number(), v.minValue(0, "must be from 0 to 1"), v.maxValue(1, "must be from 0 to 1")))),
    n: v.optional(v.nullable(v.pipe(v.number(), v.literal(1, "only n = 1 is supported")))),
    seed: v.optional(v.nullable(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(Number.MAX_SAFE_INTEGER)))),
    stop: v.optional(
      v.nullable(v.union([v.string(), v.pipe(v.array(v.string()), v.maxLength(4, "at most 4 stop strings"))], "stop must be a string or an array of strings")),
    ),
    logprobs: v.optional(v.nullable(v.boolean())),
    top_logprobs: v.optional(v.nullable(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(20, "must be at most 20")))),
    user: v.optional(v.nullable(v.pipe(v.string(), v.maxLength(256, "user is longer than 256 characters")))),
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

export type ValidationResult = { ok: true; value: ChatRequest } | { ok: false; status: 400 | 413; message: string; param: string | null; code: string };

/** Validates an already-parsed body. */
export function validateChatBody(schema: ReturnType<typeof chatRequestSchema>, body: unknown): ValidationResult {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return { ok: false, status: 400, message: "the request body must be a JSON object", param: null, code: "invalid_body" };
  }
  const r = v.safeParse(schema, body);
  if (r.success) return { ok: true, value: r.output };
  // The deepest issue is the most specific one (a union reports its branches' issues).
  const issue = r.issues[0];
  const param = fieldName(issue);
  return { ok: false, status: 400, message: `${param ?? "body"}: ${issue.message}`, param, code: "invalid_value" };
}

/** Reads at most `max` bytes of a body; null when it is longer. */
export async function readCapped(req: Request, max: number): Promise<Uint8Array | null> {
  const len = req.headers.get("content-length");
  if (len !== null && Number(len) > max) return null;
  if (!req.body) return new Uint8Array(0);
  const reader = req.body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel().catch(() => {});
      return null;
    }
    parts.push(value);
  }
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}

export type ValidateEnv = { Variables: { chat: ChatRequest } };

/** Middleware: parses and validates the chat request into `c.get("chat")`. */
export function validateChat(limits: Limits): MiddlewareHandler<ValidateEnv> {
  const schema = chatRequestSchema(limits);
  const dec = new TextDecoder("utf-8", { fatal: true });
  return async (c, next) => {
    // The body is parsed as JSON whatever the content-type says (curl sends
    // application/x-www-form-urlencoded by default).
    const bytes = await readCapped(c.req.raw, limits.max_body_bytes);
    if (bytes === null) {
      return errorResponse(413, `body: the request body is larger than ${limits.max_body_bytes} bytes`, { param: "body", code: "body_too_large" });
    }
    let body: unknown;
    try {
      body = JSON.parse(dec.decode(bytes));
    } catch (err) {
      return errorResponse(400, `body: malformed JSON (${(err as Error).message})`, { param: "body", code: "invalid_json" });
    }
    const r = validateChatBody(schema, body);
    if (!r.ok) return errorResponse(r.status, r.message, { param: r.param, code: r.code });
    c.set("chat", r.value);
    await next();
  };
}
