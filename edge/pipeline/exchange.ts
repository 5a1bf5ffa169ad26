/**
 * One request past routing: its decision event, its metrics, the abort
 * signal its backend call runs under, its slot in the shutdown registry and
 * in the edge's admission limit, and the response headers every answer
 * carries. `record()` writes the event and the metrics exactly once,
 * whichever way the request ends.
 */
import type { ConditionOutcome } from "../../proto/gen/steerguard/v1/sidecar.ts";
import type { RiskAssessment } from "../risk/index.ts";
import type { Config } from "../config/index.ts";
import { conditionLabel, type DecisionEvent, type EventSink } from "../events/index.ts";
import type { Metrics } from "../metrics/index.ts";
import type { RiskScorer } from "../risk/index.ts";
import type { ServedCompletions } from "../risk/served.ts";
import type { Decision, SteeringChoice } from "../routing/index.ts";
import type { InflightRequests } from "../shutdown/inflight.ts";
import type { Admission } from "../sidecar/admission.ts";
import type { SidecarBackend } from "../sidecar/index.ts";
import type { WireFormat } from "./format.ts";
import type { PipelineRequest } from "./request.ts";

export interface PipelineDeps {
  config: Config;
  scorer: RiskScorer;
  sidecar: SidecarBackend;
  events: EventSink;
  metrics: Metrics;
  /** fetch for the upstream (tests inject one). */
  fetch?: typeof fetch;
  /** Requests past routing, so that a forced shutdown can still record them. */
  inflight?: InflightRequests;
  /** The edge's admission limit on sidecar calls (config sidecar.max_inflight). */
  admission?: Admission;
  /** What this edge served, with classifier.assistant_turns "unserved" (edge/risk/served.ts). */
  served?: ServedCompletions;
}

/** The routing decision for one request. */
export interface Routing {
  risk: number;
  decision: Decision;
  /**
   * Risk at or above the arm's threshold, or in its condition band (the
   * conditional route may steer, so it counts as steered): never sent
   * unsteered or upstream on a failure.
   */
  risky: boolean;
  /** Which gate stage decided the risk: "classifier" (first stage) or "encoder" (second stage, in its band). */
  stage: RiskAssessment["stage"];
  classifyMs: number;
  /** System and developer messages left out of the scoring as trusted (edge/risk/trusted.ts). */
  trustedSystem: number;
  /** Assistant turns scored as client text because this edge did not serve them (edge/risk/served.ts). */
  unservedAssistant: number;
}

export interface ExchangeInit {
  requestId: string;
  /** The adapter's endpoint name, for the event. */
  endpoint: string;
  keyId: string;
  /** performance.now() at the request's arrival. */
  t0: number;
  /** The client's signal: aborts when the client disconnects. */
  clientSignal: AbortSignal;
}

export class Exchange {
  readonly ev: DecisionEvent;
  readonly headers: Record<string, string>;
  /** Aborts the backend call: the client went away, or a shutdown abandoned the request. */
  readonly abort = new AbortController();
  recorded = false;
  /** Why the edge gave up on this request when it stopped ("shutdown: ..."), if it did. */
  abandoned: string | null = null;
  /** Holds a slot of the edge's admission limit until the request is recorded. */
  admitted = false;
  private readonly leave: (() => void) | undefined;
  private readonly onClientAbort = () => this.abort.abort();

  constructor(
    readonly deps: PipelineDeps,
    readonly req: PipelineRequest,
    readonly format: WireFormat,
    readonly routing: Routing,
    private readonly init: ExchangeInit,
  ) {
    const { decision, risk } = routing;
    this.headers = {
      "x-request-id": init.requestId,
      "x-steerguard-experiment": decision.experiment,
      "x-steerguard-arm": decision.arm,
      "x-steerguard-route": decision.route,
      "x-steerguard-risk": risk.toFixed(4),
      "x-steerguard-stage": routing.stage,
    };
    this.ev = newEvent(req, routing, init);
    if (deps.config.events.include_text) this.ev.prompt = req.eventPrompt;
    deps.metrics.risk.observe({ arm: decision.arm }, risk);
    deps.metrics.inflight.inc();
    // Deno.serve's legacy behaviour aborts the request signal once a response
    // was delivered (deno.json opts out); for a runtime that still does, the
    // listener goes as soon as the request is recorded, so that a finished
    // call whose gRPC trailers are on the way is not cancelled.
    if (init.clientSignal.aborted) this.abort.abort();
    else init.clientSignal.addEventListener("abort", this.onClientAbort, { once: true });
    // A shutdown that cannot wait any longer records the request now (the
    // process exits next) and cancels its backend call.
    this.leave = deps.inflight?.add((reason) => {
      if (this.recorded) return;
      this.abandoned = reason;
      this.ev.error = reason;
      this.record(503);
      this.abort.abort();
    });
  }

  /**
   * The sidecar's condition outcome (conditional route, first chunk) into the
   * event and the headers, before the answer is committed. Numbers keep 9
   * significant digits: every float32 apart, so `steer` reads off them.
   */
  condition(c: ConditionOutcome | undefined): void {
    if (!c) return;
    const outcome = { value: float32Text(c.value), threshold: float32Text(c.threshold), steer: c.steer };
    this.ev.condition = outcome;
    this.headers["x-steerguard-condition"] = c.steer ? "steer" : "pass";
    this.headers["x-steerguard-condition-value"] = String(outcome.value);
    this.headers["x-steerguard-condition-threshold"] = String(outcome.threshold);
  }

  /**
   * A conditional request sent as plain steered (condition-fallback.ts):
   * the steering actually sent and why go into the event, `unavailable` into
   * the x-steerguard-condition header.
   */
  conditionUnavailable(steering: SteeringChoice, reason: string): void {
    this.ev.steering = steering;
    this.ev.condition_fallback = reason;
    this.headers["x-steerguard-condition"] = "unavailable";
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  /** Milliseconds since the request arrived. */
  sinceArrival(): number {
    return round(performance.now() - this.init.t0);
  }

  /** Writes the event and the metrics (once). */
  record(status: number, completion?: string): void {
    if (this.recorded) return;
    this.recorded = true;
    const { ev, deps } = this;
    this.leave?.();
    if (this.admitted) deps.admission!.leave(status === 200 && ev.backend === "sidecar" ? ev.latency.backend : null);
    this.init.clientSignal.removeEventListener("abort", this.onClientAbort);
    ev.status = status;
    const total = performance.now() - this.init.t0;
    ev.latency.total = round(total);
    if (deps.config.events.include_text && completion !== undefined) ev.completion = completion;
    if (status === 200 && completion !== undefined) deps.served?.remember(this.init.keyId, completion);
    deps.events.write(ev);
    const m = deps.metrics;
    const labels = { arm: ev.arm, route: ev.route };
    m.inflight.dec();
    m.requests.inc({ ...labels, status: String(status), backend: ev.backend });
    m.duration.observe(labels, total / 1000);
    if (ev.latency.first_token !== null) m.firstToken.observe(labels, ev.latency.first_token / 1000);
    if (ev.prompt_tokens) m.tokens.inc({ ...labels, kind: "prompt" }, ev.prompt_tokens);
    if (ev.completion_tokens) m.tokens.inc({ ...labels, kind: "completion" }, ev.completion_tokens);
    if (ev.route === "conditional") m.condition.inc({ arm: ev.arm, outcome: conditionLabel(ev) });
  }

  /** A JSON answer with the routing headers. */
  json(status: number, payload: unknown, extra: Record<string, string> = {}): Response {
    return respond(JSON.stringify(payload), status, this.headers, JSON_TYPE, extra);
  }

  /** An SSE answer with the routing headers. */
  sse(body: string | ReadableStream<Uint8Array>, status = 200): Response {
    return respond(body, status, this.headers, SSE_HEADERS);
  }
}

function newEvent(req: PipelineRequest, { decision, risk, stage, classifyMs, trustedSystem, unservedAssistant }: Routing, init: ExchangeInit & { keyId: string }): DecisionEvent {
  return {
    ts: new Date(Date.now() - (performance.now() - init.t0)).toISOString(),
    request_id: init.requestId,
    endpoint: init.endpoint,
    key_id: init.keyId,
    model: req.model,
    stream: req.stream,
    experiment: decision.experiment,
    arm: decision.arm,
    policy: decision.policy,
    route: decision.route,
    risk: Math.round(risk * 1e6) / 1e6,
    risk_stage: stage,
    threshold: decision.threshold,
    condition_band: decision.band,
    steering: decision.steering,
    backend: "none",
    sidecar: null,
    status: 0,
    finish_reason: null,
    prompt_tokens: null,
    completion_tokens: null,
    latency: { classify: round(classifyMs), first_token: null, backend: null, total: 0 },
    error: null,
    fallback: null,
    steering_applied: null,
    condition: null,
    ...(trustedSystem > 0 ? { trusted_system: trustedSystem } : {}),
    ...(unservedAssistant > 0 ? { unserved_assistant: unservedAssistant } : {}),
  };
}

export const SSE_HEADERS = { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" };
const JSON_TYPE = { "content-type": "application/json" };

/**
 * A Response with the given header sets (later sets win), set one by one on
 * the new Response: under Deno that costs about a third of handing a header
 * record to the constructor (which validates it through WebIDL), and it runs
 * on every answer.
 */
export function respond(body: ConstructorParameters<typeof Response>[0], status: number, ...sets: Record<string, string>[]): Response {
  const res = new Response(body, { status });
  for (const set of sets) for (const k in set) res.headers.set(k, set[k]);
  return res;
}

/** A float32 to 9 significant digits: enough to tell every float32 apart, so comparisons read the same. */
export function float32Text(x: number): number {
  return Number(Math.fround(x).toPrecision(9));
}

export function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
