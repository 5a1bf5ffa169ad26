/**
 * Request validation for the OpenAI endpoints: the body read with a size cap
 * (413) and a deadline (408), JSON parsing (400), parameters the model cannot
 * honour (400 naming it, see unsupported.ts; each endpoint's adapter says
 * which), and the endpoint's schema with the configured limits (400 naming
 * the field, e.g. `messages[2].content`). Other unknown fields are dropped.
 * The chat completions schema lives here; the shared fields in fields.ts.
 */
import type { MiddlewareHandler } from "hono";
import * as v from "valibot";
import { errorResponse } from "../openai/index.ts";
import type { Adapter, Refusal } from "../pipeline/format.ts";
import { readBody } from "./body.ts";
import { common, maxTokens, name, opt, seed, stop, streamOptions, topLogprobs, withinContentLimit, type Limits } from "./fields.ts";
import { CHAT_RULES, unsupportedParameter, unsupportedPart } from "./unsupported.ts";

export { MAX_NAME_CHARS, type Limits } from "./fields.ts";

const TextPart = v.object({ type: v.literal("text"), text: v.string() });

/** Builds the chat request schema for the given limits. */
export function chatRequestSchema(limits: Limits) {
  const content = v.pipe(
    v.union([v.string(), v.array(TextPart), v.null()], "content must be a string, an array of text parts, or null"),
    withinContentLimit<string | Array<{ type: "text"; text: string }> | null>(limits),
  );
  const message = v.object({
    role: v.picklist(["system", "developer", "user", "assistant"], "role must be system, developer, user or assistant"),
    content: v.optional(content, null),
    name: v.optional(name("name")),
  });
  return v.object({
    ...common,
    messages: v.pipe(
      v.array(message, "messages must be an array"),
      v.minLength(1, "messages must not be empty"),
      v.maxLength(limits.max_messages, `at most ${limits.max_messages} messages`),
    ),
    stream_options: streamOptions,
    max_tokens: opt(maxTokens(limits)),
    max_completion_tokens: opt(maxTokens(limits)),
    n: opt(v.pipe(v.number(), v.literal(1, "only n = 1 is supported"))),
    seed,
    stop,
    logprobs: opt(v.boolean()),
    top_logprobs: topLogprobs,
  });
}

export type ChatRequest = v.InferOutput<ReturnType<typeof chatRequestSchema>>;

/** What chat completions refuses before its schema: the parameters of CHAT_RULES, and content parts that are not text. */
export function refuseChat(body: Record<string, unknown>): Refusal | null {
  const r = unsupportedParameter(body, CHAT_RULES) ?? unsupportedPart(body.messages, "messages", ["text"]);
  return r && { ...r, code: "unsupported_parameter" };
}

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

export type ValidationResult<T = ChatRequest> = { ok: true; value: T } | { ok: false; status: 400; message: string; param: string | null; code: string };

/**
 * valibot's default messages quote the value received ("Expected number but
 * received \"...\""), which would echo up to a whole body: quote at most 40
 * characters of it.
 */
function shortMessage(issue: v.BaseIssue<unknown>): string {
  const received = issue.received.length > 40 ? `${issue.received.slice(0, 40)}…` : issue.received;
  return `Invalid ${issue.kind === "schema" ? "type" : issue.type}: Expected ${issue.expected} but received ${received}`;
}

/**
 * The most specific issue: a union that no branch matched reports its
 * branches' issues under its own (their paths relative to the union); the
 * deepest of them (e.g. `input[0].role` rather than `input`) says what to
 * fix, where one is deeper than the union itself.
 */
function deepest(issue: v.BaseIssue<unknown>): v.BaseIssue<unknown> {
  let best = issue;
  for (const sub of issue.issues ?? []) {
    const d = deepest(sub);
    const path = [...(issue.path ?? []), ...(d.path ?? [])] as typeof issue.path;
    if ((path?.length ?? 0) > (best.path?.length ?? 0)) best = { ...d, path };
  }
  return best;
}

/** Validates an already-parsed body against a schema, after the endpoint's refusals. */
export function validateParsed<T>(schema: v.GenericSchema<unknown, T>, refuse: (body: Record<string, unknown>) => Refusal | null, body: unknown): ValidationResult<T> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return { ok: false, status: 400, message: "the request body must be a JSON object", param: null, code: "invalid_body" };
  }
  const refused = refuse(body as Record<string, unknown>);
  if (refused) return { ok: false, status: 400, ...refused };
  const r = v.safeParse(schema, body, { message: shortMessage });
  if (r.success) return { ok: true, value: r.output };
  const issue = deepest(r.issues[0]);
  const param = fieldName(issue);
  return { ok: false, status: 400, message: `${param ?? "body"}: ${issue.message}`.slice(0, 300), param, code: "invalid_value" };
}

/** Validates an already-parsed chat completions body. */
export function validateChatBody(schema: ReturnType<typeof chatRequestSchema>, body: unknown): ValidationResult {
  return validateParsed(schema, refuseChat, body);
}

function parseJson(bytes: Uint8Array, decode: (b: Uint8Array) => string): { ok: true; value: unknown } | { ok: false; message: string } {
  try {
    return { ok: true, value: JSON.parse(decode(bytes)) };
  } catch (err) {
    return { ok: false, message: `body: malformed JSON (${(err as Error).message.slice(0, 200)})` };
  }
}

export type BodyEnv<T = unknown> = { Variables: { body: T } };

/**
 * Middleware: reads, parses and validates the request for an endpoint's
 * adapter into `c.get("body")`. The body is parsed as JSON whatever the
 * content-type says (curl sends application/x-www-form-urlencoded by
 * default). A body that could not be read whole (too slow, too large,
 * undecodable) leaves the connection in an unknown state, so that answer
 * asks to close it.
 */
export function validateRequest<T>(limits: Limits, adapter: Pick<Adapter<T>, "schema" | "refuse">): MiddlewareHandler<BodyEnv<T>> {
  const schema = adapter.schema(limits);
  const refuse = adapter.refuse.bind(adapter);
  const dec = new TextDecoder("utf-8", { fatal: true });
  return async (c, next) => {
    const read = await readBody(c.req.raw, limits.max_body_bytes, limits.body_timeout_ms);
    if (!read.ok) return errorResponse(read.status, read.message, { param: "body", code: read.code, headers: CLOSE });
    const json = parseJson(read.bytes, (b) => dec.decode(b));
    if (!json.ok) return errorResponse(400, json.message, { param: "body", code: "invalid_json" });
    const r = validateParsed(schema, refuse, json.value);
    if (!r.ok) return errorResponse(r.status, r.message, { param: r.param, code: r.code });
    c.set("body", r.value);
    await next();
  };
}

/** The chat completions validator (`c.get("body")` is a ChatRequest). */
export function validateChat(limits: Limits): MiddlewareHandler<BodyEnv<ChatRequest>> {
  return validateRequest(limits, { schema: chatRequestSchema, refuse: refuseChat });
}

const CLOSE = { connection: "close" };
