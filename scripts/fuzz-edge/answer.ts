/**
 * What a well-formed answer from each generation endpoint looks like, for
 * the oracle: a success body (JSON, or its SSE stream) and an error body.
 * Each check returns null when the body is well formed, else what is wrong.
 *
 * - chat / legacy completions streams: `data:` frames of JSON chunks
 *   (`chat.completion.chunk` / `text_completion`) ending in `data: [DONE]`,
 *   or in an error frame (`{"error": {...}}`) when it fails mid-stream;
 * - responses streams: `event:` + `data:` pairs whose `type` matches the
 *   event and whose `sequence_number` counts from 0, starting with
 *   `response.created` and ending in `response.completed`,
 *   `response.incomplete` or an `error` event; no `[DONE]`;
 * - errors: `{"error": {"message": string, "type": string, "param": string | null}}`,
 *   and where the request's only fault is in known fields, a 400's `param`
 *   names one of them (or a path inside one).
 */
import type { Endpoint } from "./endpoints.ts";

const OBJECT: Record<Endpoint, [whole: string, chunk: string]> = {
  chat: ["chat.completion", "chat.completion.chunk"],
  responses: ["response", "response"],
  completions: ["text_completion", "text_completion"],
};
const RESPONSES_END = new Set(["response.completed", "response.incomplete", "error"]);

type Json = Record<string, unknown>;

function parse(text: string): Json | null {
  try {
    const j = JSON.parse(text) as unknown;
    return j !== null && typeof j === "object" && !Array.isArray(j) ? (j as Json) : null;
  } catch {
    return null;
  }
}

/** The SSE events of `text`: each block's `event:` (if any) and its joined `data:` lines. */
export function sseEvents(text: string): { event?: string; data: string }[] {
  return text
    .split(/\r?\n\r?\n/)
    .filter((b) => b.trim() !== "")
    .map((block) => {
      const lines = block.split(/\r?\n/).filter((l) => !l.startsWith(":"));
      const event = lines.find((l) => l.startsWith("event:"))?.slice(6).trim();
      const data = lines.filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, "")).join("\n");
      return { event, data };
    });
}

function isErrorObject(j: Json | null): boolean {
  return typeof (j?.error as Json | undefined)?.message === "string";
}

function checkDataStream(ep: "chat" | "completions", text: string): string | null {
  const events = sseEvents(text);
  if (events.length === 0) return "empty stream";
  const last = events.at(-1)!.data;
  for (const [i, e] of events.entries()) {
    if (e.data === "[DONE]") {
      if (i !== events.length - 1) return `[DONE] at frame ${i} of ${events.length}`;
      continue;
    }
    const j = parse(e.data);
    if (isErrorObject(j)) {
      if (i !== events.length - 1) return `error frame ${i} is not the last`;
      continue;
    }
    if (j?.object !== OBJECT[ep][1]) return `frame ${i} is not a ${OBJECT[ep][1]}: ${e.data.slice(0, 80)}`;
  }
  return last === "[DONE]" || isErrorObject(parse(last)) ? null : "stream ends without [DONE] or an error frame";
}

function checkResponsesStream(text: string): string | null {
  const events = sseEvents(text);
  if (events.length === 0) return "empty stream";
  for (const [i, e] of events.entries()) {
    const j = parse(e.data);
    if (!j) return `event ${i} data is not a JSON object: ${e.data.slice(0, 80)}`;
    if (j.type !== e.event) return `event ${i}: "event: ${e.event}" but type ${String(j.type)}`;
    if (j.sequence_number !== i) return `event ${i} has sequence_number ${String(j.sequence_number)}`;
    if (i === 0 && j.type !== "response.created" && j.type !== "error") return `starts with ${String(j.type)}`;
    if (RESPONSES_END.has(String(j.type)) && i !== events.length - 1) return `${String(j.type)} at event ${i} of ${events.length}`;
  }
  const end = events.at(-1)!.event ?? "";
  return RESPONSES_END.has(end) ? null : `stream ends with ${end || "no event"}`;
}

/** A 2xx body from `ep`: null when well formed. */
export function checkSuccess(ep: Endpoint, contentType: string, body: string): string | null {
  if (/^text\/event-stream/i.test(contentType)) return ep === "responses" ? checkResponsesStream(body) : checkDataStream(ep, body);
  const j = parse(body);
  if (!/^application\/json/i.test(contentType) || !j) return `not JSON (${contentType})`;
  if (j.object !== OBJECT[ep][0]) return `object is ${String(j.object)}, not ${OBJECT[ep][0]}`;
  const list = ep === "responses" ? j.output : j.choices;
  return Array.isArray(list) && list.length > 0 ? null : `no ${ep === "responses" ? "output" : "choices"}`;
}

/** The field a param path starts in: `input[0].content[0].text` -> `input`. */
const root = (path: string) => /^[^.[]*/.exec(path)![0];

/** An error body in the OpenAI shape: null when well formed (and blaming one of `fields` on a 400, when given). */
export function checkError(status: number, body: unknown, fields?: string[]): string | null {
  const e = (body as { error?: Json } | null)?.error;
  if (!e || typeof e.message !== "string") return "no error.message";
  if (typeof e.type !== "string") return "no error.type";
  if (!("param" in e) || (e.param !== null && typeof e.param !== "string")) return "no error.param (string or null)";
  if (status !== 400 || !fields?.length) return null;
  if (typeof e.param !== "string") return `param is null; the fault is in ${fields.join(" or ")}`;
  return fields.some((f) => root(f) === root(e.param as string)) ? null : `param ${e.param} is not the field at fault (${fields.join(" or ")})`;
}
