/**
 * The answer to a request shed for load: 429 with `retry-after` (whole
 * seconds) and an OpenAI-style error body. OpenAI SDKs retry a 429 after the
 * time retry-after names, so a well-behaved client backs off by itself.
 */
import { errorBody } from "../openai/index.ts";
import type { SidecarFailure } from "../sidecar/index.ts";

/** Seconds to put in retry-after: the sidecar's retry-after-ms rounded up, else `fallbackS` (at least 1). */
export function retryAfterSecondsOf(f: Pick<SidecarFailure, "retryAfterMs">, fallbackS: number): number {
  if (f.retryAfterMs !== null && Number.isFinite(f.retryAfterMs)) return Math.max(1, Math.ceil(f.retryAfterMs / 1000));
  return Math.max(1, Math.ceil(fallbackS));
}

export function overloadedResponse(message: string, retryAfterS: number, headers: Record<string, string>): Response {
  const body = errorBody(429, `${message}; retry after ${retryAfterS} s.`, { code: "overloaded" });
  const res = new Response(JSON.stringify(body), { status: 429 });
  for (const k in headers) res.headers.set(k, headers[k]);
  res.headers.set("content-type", "application/json");
  res.headers.set("retry-after", String(retryAfterS));
  return res;
}
