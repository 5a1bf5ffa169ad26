/**
 * Schema pieces every OpenAI endpoint shares (valibot): the model name, token
 * limits, sampling parameters, stop strings, user, stream options. Every
 * string the edge echoes or logs has a length limit, and `model` must be
 * printable. `null` is the same as leaving a parameter out.
 */
import * as v from "valibot";
import type { Config } from "../config/index.ts";

export type Limits = Config["limits"];

/** Longest model name, user, message name and stop string (in UTF-16 code units). */
export const MAX_NAME_CHARS = 256;

/** C0 and C1 control characters (NUL included), and UTF-16 surrogates without their pair. */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * A JSON object: valibot's object() also takes an array (an array has none
 * of the keys, and they are all optional), so `stream_options: []` passed.
 */
export const jsonObject = <const E extends v.ObjectEntries>(entries: E, message: string) =>
  v.pipe(
    v.custom<Record<string, unknown>>((x) => typeof x === "object" && x !== null && !Array.isArray(x), message),
    v.object(entries, message),
  );

export const name = (field: string) => v.pipe(v.string(), v.maxLength(MAX_NAME_CHARS, `${field} is longer than ${MAX_NAME_CHARS} characters`));

/** An optional parameter where null means absent. */
export const opt = <S extends v.GenericSchema>(schema: S) => v.optional(v.nullable(schema));

export const model = v.pipe(
  v.string("model is required"),
  v.minLength(1, "model is required"),
  v.maxLength(MAX_NAME_CHARS, `model is longer than ${MAX_NAME_CHARS} characters`),
  v.check((m) => !UNPRINTABLE.test(m), "model must not contain control characters (NUL included) or unpaired UTF-16 surrogates"),
);

export const maxTokens = (limits: Limits) =>
  v.pipe(
    v.number("must be an integer"),
    v.integer("must be an integer"),
    v.minValue(1, "must be at least 1"),
    v.maxValue(limits.max_tokens, `must be at most ${limits.max_tokens}`),
  );

type Text = string | ReadonlyArray<{ text: string }> | null;
const textLength = (t: Text) => (typeof t === "string" ? t.length : Array.isArray(t) ? t.reduce((s, p) => s + p.text.length, 0) : 0);

/** A text no longer than the content limit (a string, or the sum of its parts' texts). */
export const withinContentLimit = <T extends Text>(limits: Limits, what = "content") =>
  v.check<T, string>((t) => textLength(t) <= limits.max_content_chars, `${what} is longer than ${limits.max_content_chars} characters`);

/** Fields with the same meaning and limits on every endpoint. */
export const common = {
  model,
  stream: v.optional(v.nullable(v.boolean()), false),
  temperature: opt(v.pipe(v.number(), v.minValue(0, "must be from 0 to 2"), v.maxValue(2, "must be from 0 to 2"))),
  top_p: opt(v.pipe(v.number(), v.minValue(0, "must be from 0 to 1"), v.maxValue(1, "must be from 0 to 1"))),
  user: opt(name("user")),
};

export const seed = opt(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(Number.MAX_SAFE_INTEGER)));
export const stop = opt(
  v.union([name("a stop string"), v.pipe(v.array(name("a stop string")), v.maxLength(4, "at most 4 stop strings"))], "stop must be a string or an array of at most 4 strings of at most 256 characters"),
);
export const streamOptions = opt(jsonObject({ include_usage: v.optional(v.boolean(), false) }, "stream_options must be an object"));
export const topLogprobs = opt(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(20, "must be at most 20")));
