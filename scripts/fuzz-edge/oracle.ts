/**
 * Judges one outcome. The edge answers every error with an OpenAI-shaped JSON
 * body (`{"error": {"message", ...}}`); the runtime's own HTTP parser (hyper
 * inside Deno.serve) answers what it cannot parse itself, before the edge
 * sees it, with `400 Bad Request` and an empty body (headers content-length,
 * date, connection only), or closes the connection without an answer (a
 * malformed chunk arriving with the head). Anything else that is not JSON,
 * any 5xx, any hang, is a finding. On the generation endpoints the answer
 * is also checked against its wire format (answer.ts): a 2xx body or stream
 * that is malformed, routing headers that are not (routingProblem), or an
 * error without `type` / `param` (or whose `param` does not name the field
 * at fault), is a finding too.
 */
import { checkError, checkSuccess } from "./answer.ts";
import type { Endpoint } from "./endpoints.ts";
import type { Outcome } from "./send.ts";

export type Verdict =
  | "ok" // a 2xx/3xx, or an error in the edge's JSON shape
  | "runtime-parser" // the runtime's own empty 400
  | "closed" // the connection closed with no response
  | "non-json-error" // an error body that is neither JSON from the edge nor the runtime's
  | "bad-answer" // a 2xx body or stream from a generation endpoint not in its wire format
  | "bad-error" // an edge JSON error without type / param, or blaming a field other than the one at fault
  | "5xx"
  | "hang";

/** What the request was: its endpoint and, when only some fields are at fault, those. */
export interface Expect {
  endpoint?: Endpoint | "other";
  fields?: string[];
}

type Response = Extract<Outcome, { kind: "response" }>;

const RUNTIME_HEADERS = new Set(["content-length", "date", "connection"]);

/** The runtime's own parser error: an empty 4xx with only its framing headers. */
export function isRuntimeParserError(o: Response): boolean {
  return o.status >= 400 && o.status < 500 && o.body.length === 0 && Object.keys(o.headers).every((h) => RUNTIME_HEADERS.has(h));
}

/** An error body in the OpenAI shape, as edge/openai writes it. */
export function isJsonError(o: Response): boolean {
  return typeof (errorBody(o) as { error?: { message?: unknown } } | null)?.error?.message === "string";
}

function errorBody(o: Response): unknown {
  if (!/^application\/json/i.test(o.headers["content-type"] ?? "")) return null;
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(o.body));
  } catch {
    return null;
  }
}

const ROUTES = new Set(["steered", "unsteered", "blocked", "conditional"]);

/**
 * Why a generation answer's routing headers are wrong, or null: a known
 * route, and on the conditional route an outcome (when there is one: a
 * fallback has none) that is steer or pass and agrees with value >= threshold.
 */
export function routingProblem(headers: Record<string, string>): string | null {
  const route = headers["x-steerguard-route"];
  if (!route || !ROUTES.has(route)) return `x-steerguard-route is ${JSON.stringify(route ?? null)}`;
  const outcome = headers["x-steerguard-condition"];
  if (outcome === undefined) return null;
  if (route !== "conditional") return `x-steerguard-condition on route ${route}`;
  const [value, threshold] = [Number(headers["x-steerguard-condition-value"]), Number(headers["x-steerguard-condition-threshold"])];
  if (!Number.isFinite(value) || !Number.isFinite(threshold)) return "x-steerguard-condition-value / -threshold not numbers";
  if (outcome !== (value >= threshold ? "steer" : "pass")) return `x-steerguard-condition ${outcome} with value ${value} and threshold ${threshold}`;
  return null;
}

/** Why an answer the edge gave is not in its format, or null. */
export function answerProblem(o: Response, method: string, expect: Expect): string | null {
  const ep = expect.endpoint;
  if (o.status < 300 && method === "POST" && ep && ep !== "other") {
    return checkSuccess(ep, o.headers["content-type"] ?? "", new TextDecoder().decode(o.body)) ?? routingProblem(o.headers);
  }
  if (o.status >= 400 && o.status < 500 && method !== "HEAD" && isJsonError(o)) return checkError(o.status, errorBody(o), expect.fields);
  return null;
}

export function judge(o: Outcome, method: string, expect: Expect = {}): Verdict {
  if (o.kind === "hang") return "hang";
  if (o.kind === "closed") return "closed";
  if (o.status === 0) return "non-json-error"; // not even an HTTP status line
  if (o.status >= 500) return "5xx";
  const problem = answerProblem(o, method, expect);
  if (problem) return o.status < 400 ? "bad-answer" : "bad-error";
  if (o.status < 400) return "ok";
  // A HEAD answer has no body by definition.
  if (method === "HEAD") return "ok";
  if (isJsonError(o)) return "ok";
  if (isRuntimeParserError(o)) return "runtime-parser";
  return "non-json-error";
}
