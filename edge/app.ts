/**
 * The edge as a plain Hono app: `createApp(config, deps)`. Runs under Deno
 * (edge/main.ts) and in-process under vitest (`app.request(...)`).
 *
 * Routes: POST /v1/chat/completions, /v1/responses and /v1/completions (one
 * request pipeline, edge/pipeline, with an adapter per wire format), GET
 * /v1/models, GET /healthz (liveness),
 * GET /readyz (a sidecar is healthy and has room: 503 with a reason when none
 * is healthy, when every healthy one reports its queue at its admission limit,
 * or when the edge's own limit of sidecar calls is reached; `warnings` lists
 * what works but not as configured: a condition band whose profile a sidecar
 * serves without a condition), GET /metrics (Prometheus text).
 */
import { Hono } from "hono";
import { auth, type ApiKey, type KeyStore } from "./auth/index.ts";
import { chatAdapter } from "./chat/index.ts";
import { completionsAdapter } from "./completions/index.ts";
import type { Config } from "./config/index.ts";
import { errorResponse } from "./openai/index.ts";
import type { Adapter } from "./pipeline/format.ts";
import { pipelineHandler, type EdgeEnv, type PipelineDeps } from "./pipeline/index.ts";
import { rateLimit, type RateLimiter } from "./ratelimit/index.ts";
import { responsesAdapter } from "./responses/index.ts";
import { ServedCompletions } from "./risk/served.ts";
import { Admission } from "./sidecar/admission.ts";
import { bandedProfiles, conditionWarnings } from "./sidecar/condition-warnings.ts";
import { validateRequest } from "./validate/index.ts";

/** /readyz's warning while the classifier's second stage cannot decide (not a reason to leave rotation). */
export const SECOND_STAGE_DOWN = "classifier second stage down (its encoder worker is being started again): the first stage decides in-band prompts meanwhile";

/** What the app needs beyond its config: the pipeline's dependencies (edge/pipeline/exchange.ts) and the key store and rate limiter. */
export interface AppDeps extends Omit<PipelineDeps, "config" | "admission"> {
  keys: KeyStore;
  limiter: RateLimiter;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** A client-given string put into an error message: at most 256 characters of it. */
const quote = (s: string) => (s.length > 256 ? `${s.slice(0, 256)}…` : s);

export function createApp(config: Config, deps: AppDeps) {
  const app = new Hono<EdgeEnv>();
  const admission = config.sidecar.max_inflight > 0 ? new Admission(config.sidecar.max_inflight) : undefined;
  const banded = bandedProfiles(config);
  deps.metrics.bindLoad({
    sidecars: () => deps.sidecar.status(),
    calls: () => ({ inflight: admission?.size ?? 0, limit: config.sidecar.max_inflight }),
  });

  app.use("*", async (c, next) => {
    c.set("startedAt", performance.now());
    const given = c.req.header("x-request-id");
    c.set("requestId", given && REQUEST_ID.test(given) ? given : crypto.randomUUID());
    await next();
  });

  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/readyz", (c) => {
    const healthy = deps.sidecar.ready();
    // Saturation: a load balancer should send new work elsewhere for now.
    const reason = !healthy
      ? unhealthyReason(deps.sidecar.status())
      : admission?.full
        ? `saturated: ${admission.size} sidecar calls in flight from this edge, its admission limit is ${admission.limit}`
        : (deps.sidecar.saturation?.() ?? null);
    const ready = reason === null;
    const calls = { inflight: admission?.size ?? null, limit: config.sidecar.max_inflight };
    // Not a reason to take the edge out of rotation: in-band prompts are steered (edge/pipeline/condition-fallback.ts).
    const warnings = [...conditionWarnings(banded, deps.sidecar)];
    if (deps.scorer.secondStageUp?.() === false) warnings.push(SECOND_STAGE_DOWN);
    const extra = { ...(reason ? { reason } : {}), ...(warnings.length > 0 ? { warnings } : {}) };
    return c.json({ ready, ...extra, sidecars: deps.sidecar.status(), sidecar_calls: calls, classifier: deps.scorer.source }, ready ? 200 : 503);
  });

  const metricsRoute = async () =>
    new Response(await deps.metrics.text(), { headers: { "content-type": deps.metrics.contentType } });
  if (config.metrics.public) app.get("/metrics", metricsRoute);
  else app.get("/metrics", auth(deps.keys), metricsRoute);

  const models = () => (config.models.length > 0 ? config.models : deps.sidecar.modelIds());
  const modelEntry = (id: string) => ({ id, object: "model", created: 0, owned_by: "steerguard" });
  const visible = (key: ApiKey) => models().filter((m) => key.models === null || key.models.includes(m));
  app.get("/v1/models", auth(deps.keys), (c) => c.json({ object: "list", data: visible(c.get("key")).map(modelEntry) }));
  app.get("/v1/models/:id", auth(deps.keys), (c) => {
    const id = c.req.param("id");
    if (!visible(c.get("key")).includes(id)) return errorResponse(404, `The model '${quote(id)}' does not exist.`, { param: "model", code: "model_not_found" });
    return c.json(modelEntry(id));
  });

  const served = config.classifier.assistant_turns === "unserved" ? new ServedCompletions(config.classifier.served_memory) : undefined;
  const pipeline: PipelineDeps = { config, scorer: deps.scorer, sidecar: deps.sidecar, events: deps.events, metrics: deps.metrics, fetch: deps.fetch, inflight: deps.inflight, admission, served };
  const endpoint = <Body>(path: string, adapter: Adapter<Body>) =>
    app.post(
      path,
      async (c, next) => {
        await next();
        // Count what was refused before routing (auth, rate limit, validation, model access).
        if (!c.get("decided") && c.res.status >= 400) {
          const code = REJECTED_CODE[c.res.status] ?? "invalid";
          deps.metrics.rejected.inc({ status: String(c.res.status), code });
        }
      },
      auth(deps.keys),
      rateLimit(deps.limiter),
      validateRequest(config.limits, adapter),
      pipelineHandler(pipeline, adapter),
    );
  endpoint("/v1/chat/completions", chatAdapter);
  endpoint("/v1/responses", responsesAdapter);
  endpoint("/v1/completions", completionsAdapter);

  app.notFound((c) => errorResponse(404, `Unknown route ${quote(c.req.method)} ${quote(c.req.path)}`, { code: "unknown_url" }));
  app.onError((err) => {
    console.error("edge: unhandled error:", err);
    return errorResponse(500, "Internal error in the edge.");
  });
  return app;
}

/** Why no sidecar is healthy, with the first one's last error (a TLS misconfiguration says what is wrong here). */
function unhealthyReason(sidecars: ReadonlyArray<{ address: string; lastError: string | null }>): string {
  const failing = sidecars.find((s) => s.lastError);
  return failing ? `no healthy sidecar (${failing.address}: ${failing.lastError})` : "no healthy sidecar";
}

/** `code` label of steerguard_rejected_total per status refused before routing (else "invalid"). */
const REJECTED_CODE: Record<number, string> = { 401: "auth", 403: "model", 404: "model", 408: "timeout", 413: "too_large", 429: "rate_limit" };
