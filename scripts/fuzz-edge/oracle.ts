/**
 * Judges one outcome. The edge answers every error with an OpenAI-shaped JSON
 * body (`{"error": {"message", ...}}`); the runtime's own HTTP parser (hyper
 * inside Deno.serve) answers what it cannot parse itself, before the edge
 * sees it, with `400 Bad Request` and an empty body (headers content-length,
 * date, connection only), or closes the connection without an answer (a
 * malformed chunk arriving with the head). Anything else that is not JSON,
 * any 5xx, any hang, is a finding.
 */
import type { Outcome } from "./send.ts";

export type Verdict =
  | "ok" // a 2xx/3xx, or an error in the edge's JSON shape
  | "runtime-parser" // the runtime's own empty 400
  | "closed" // the connection closed with no response
  | "non-json-error" // an error body that is neither JSON from the edge nor the runtime's
  | "5xx"
  | "hang";

const RUNTIME_HEADERS = new Set(["content-length", "date", "connection"]);

/** The runtime's own parser error: an empty 4xx with only its framing headers. */
export function isRuntimeParserError(o: Extract<Outcome, { kind: "response" }>): boolean {
  return o.status >= 400 && o.status < 500 && o.body.length === 0 && Object.keys(o.headers).every((h) => RUNTIME_HEADERS.has(h));
}

/** An error body in the OpenAI shape, as edge/openai writes it. */
export function isJsonError(o: Extract<Outcome, { kind: "response" }>): boolean {
  if (!/^application\/json/i.test(o.headers["content-type"] ?? "")) return false;
  try {
    const j = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(o.body)) as { error?: { message?: unknown } };
    return typeof j.error?.message === "string";
  } catch {
    return false;
  }
}

export function judge(o: Outcome, method: string): Verdict {
  if (o.kind === "hang") return "hang";
  if (o.kind === "closed") return "closed";
  if (o.status === 0) return "non-json-error"; // not even an HTTP status line
  if (o.status >= 500) return "5xx";
  if (o.status < 400) return "ok";
  // A HEAD answer has no body by definition.
  if (method === "HEAD") return "ok";
  if (isJsonError(o)) return "ok";
  if (isRuntimeParserError(o)) return "runtime-parser";
  return "non-json-error";
}
