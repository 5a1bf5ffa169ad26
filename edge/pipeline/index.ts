/**
 * The request pipeline every OpenAI endpoint shares, after auth, rate limit
 * and validation: the adapter converts the body to a PipelineRequest, then
 * model access, one routing decision (risk score, A/B arm, route), one
 * executor per route (the edge's refusal, the upstream, the sidecar) and one
 * decision event plus metrics. The adapter's wire format renders the answer.
 */
import type { Context } from "hono";
import { canUse, type ApiKey } from "../auth/index.ts";
import { experimentFor } from "../config/index.ts";
import { errorBody, errorResponse } from "../openai/index.ts";
import { unservedAsClient } from "../risk/served.ts";
import { scoredMessages, trustedHashes, type SystemTrust } from "../risk/trusted.ts";
import { assignArm, decide, defaultArm } from "../routing/index.ts";
import { Exchange, type PipelineDeps, type Routing } from "./exchange.ts";
import { refusal } from "./failure.ts";
import type { Adapter } from "./format.ts";
import type { PipelineRequest } from "./request.ts";
import { sidecarRoute } from "./sidecar.ts";
import { hasUpstream, upstreamRoute } from "./upstream.ts";

export type { PipelineDeps } from "./exchange.ts";

export type EdgeEnv = { Variables: { key: ApiKey; body: unknown; requestId: string; decided: boolean; startedAt: number } };

export function pipelineHandler<Body>(deps: PipelineDeps, adapter: Adapter<Body>) {
  const defaultThreshold = deps.config.classifier.threshold ?? deps.scorer.threshold;
  const hashes = trustedHashes(deps.config.classifier.trusted_system_prompts);
  return async (c: Context<EdgeEnv>): Promise<Response> => {
    // From the request's arrival (the first middleware), so body reading counts.
    const t0 = c.get("startedAt") ?? performance.now();
    const key = c.get("key");
    const requestId = c.get("requestId");
    const { request, format } = adapter.prepare(c.get("body") as Body, { requestId, created: Math.floor(Date.now() / 1000) });
    const refused = modelAccess(deps, key, request.model);
    if (refused) return refused;
    c.set("decided", true);
    const routing = await route(deps, request, key, defaultThreshold, { hashes, role: key.trustSystemPrompt === true });
    const ex = new Exchange(deps, request, format, routing, { requestId, endpoint: adapter.endpoint, keyId: key.id, t0, clientSignal: c.req.raw.signal });
    try {
      return await execute(ex);
    } catch (err) {
      // Anything unexpected: answer 500 in the OpenAI shape and still record the event.
      ex.ev.error = `internal: ${(err as Error).message}`;
      ex.record(500);
      return ex.json(500, errorBody(500, "Internal error in the edge."));
    }
  };
}

/** 404 for a model not served (when `models` is set), 403 for one the key may not use. */
function modelAccess(deps: PipelineDeps, key: ApiKey, model: string): Response | null {
  if (deps.config.models.length > 0 && !deps.config.models.includes(model)) {
    return errorResponse(404, `The model '${model}' does not exist.`, { param: "model", code: "model_not_found" });
  }
  if (!canUse(key, model)) return errorResponse(403, `This key may not use the model '${model}'.`, { param: "model", code: "model_not_allowed" });
  return null;
}

/** One routing decision per request: risk over the request's turns (less the trusted system prompts), the arm, the route. */
async function route(deps: PipelineDeps, req: PipelineRequest, key: ApiKey, defaultThreshold: number, trust: SystemTrust): Promise<Routing> {
  const tc = performance.now();
  const scored = scoredMessages(req.risk, trust);
  const asClient = deps.served ? unservedAsClient(scored.messages, deps.served, key.id) : { messages: scored.messages, unserved: 0 };
  const { risk, stage, skipped } = await deps.scorer.assess(asClient.messages);
  if (skipped) deps.metrics.secondStageSkipped.inc({ reason: skipped });
  const classifyMs = performance.now() - tc;
  const experiment = experimentFor(deps.config, req.model);
  const arm = experiment ? assignArm(experiment, req.user || key.id) : defaultArm();
  const decision = decide(deps.config, experiment?.name ?? "default", arm, risk, defaultThreshold);
  // The conditional route is "maybe steered": for the failure policy it is risky, as steered is.
  const risky = risk >= (decision.band?.low ?? decision.threshold ?? defaultThreshold);
  return { risk, decision, risky, stage, classifyMs, trustedSystem: scored.trusted, unservedAssistant: asClient.unserved };
}

function execute(ex: Exchange): Response | Promise<Response> {
  const route = ex.routing.decision.route;
  if (route === "blocked") return refusal(ex);
  if (route === "unsteered" && ex.deps.config.upstream?.use === "unsteered" && hasUpstream(ex)) return upstreamRoute(ex);
  return sidecarRoute(ex);
}
