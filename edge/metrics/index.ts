/**
 * Prometheus metrics (prom-client, which runs under Deno as well as Node),
 * labelled by arm and route so an A/B readout needs nothing else.
 */
import client from "prom-client";

/** What the backpressure gauges read when scraped (bound by createApp). */
export interface LoadSource {
  /** Each sidecar's queue as it last reported it. */
  sidecars(): Array<{ address: string; queue?: { depth: number; limit: number; saturated: boolean } | null }>;
  /** Sidecar calls in flight from this edge, and its admission limit (0 = none). */
  calls(): { inflight: number; limit: number };
}

export class Metrics {
  readonly registry = new client.Registry();
  readonly requests: client.Counter<"arm" | "route" | "status" | "backend">;
  readonly duration: client.Histogram<"arm" | "route">;
  readonly firstToken: client.Histogram<"arm" | "route">;
  readonly risk: client.Histogram<"arm">;
  readonly tokens: client.Counter<"arm" | "route" | "kind">;
  readonly rejected: client.Counter<"status" | "code">;
  readonly sidecarFailures: client.Counter<"kind" | "fallback">;
  readonly sidecarHealthy: client.Gauge<"address">;
  readonly inflight: client.Gauge;
  readonly shed: client.Counter<"reason">;
  readonly condition: client.Counter<"arm" | "outcome">;
  readonly secondStageSkipped: client.Counter<"reason">;
  private source: LoadSource | undefined;

  constructor() {
    const registers = [this.registry];
    this.requests = new client.Counter({
      name: "steerguard_requests_total",
      help: "Chat requests that reached routing, by arm, route, HTTP status and backend.",
      labelNames: ["arm", "route", "status", "backend"],
      registers,
    });
    const buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
    this.duration = new client.Histogram({ name: "steerguard_request_duration_seconds", help: "Whole request time.", labelNames: ["arm", "route"], buckets, registers });
    this.firstToken = new client.Histogram({ name: "steerguard_time_to_first_token_seconds", help: "Request arrival to first generated token.", labelNames: ["arm", "route"], buckets, registers });
    this.risk = new client.Histogram({
      name: "steerguard_risk_score",
      help: "Prompt-risk scores.",
      labelNames: ["arm"],
      buckets: [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99],
      registers,
    });
    this.tokens = new client.Counter({ name: "steerguard_tokens_total", help: "Tokens by kind (prompt, completion).", labelNames: ["arm", "route", "kind"], registers });
    this.rejected = new client.Counter({ name: "steerguard_rejected_total", help: "Requests refused before routing (auth, rate limit, validation).", labelNames: ["status", "code"], registers });
    this.sidecarFailures = new client.Counter({ name: "steerguard_sidecar_failures_total", help: "Sidecar call failures by kind and the fallback taken.", labelNames: ["kind", "fallback"], registers });
    this.sidecarHealthy = new client.Gauge({ name: "steerguard_sidecar_healthy", help: "1 when the sidecar at address passes health checks.", labelNames: ["address"], registers });
    this.inflight = new client.Gauge({ name: "steerguard_inflight_requests", help: "Chat requests in progress.", registers });
    this.shed = new client.Counter({
      name: "steerguard_shed_total",
      help: "Requests shed with 429 and retry-after: reason edge_admission (the edge's max_inflight) or sidecar_queue_full (RESOURCE_EXHAUSTED).",
      labelNames: ["reason"],
      registers,
    });
    this.secondStageSkipped = new client.Counter({
      name: "steerguard_second_stage_skipped_total",
      help: "Requests whose risk was in the classifier's second-stage band but the first stage decided: busy (the encoder's queue would have waited past the budget) or error.",
      labelNames: ["reason"],
      registers,
    });
    this.condition = new client.Counter({
      name: "steerguard_condition_total",
      help: "Requests on the conditional route by what the sidecar's in-model condition decided: steer, pass, unavailable (sent steered: the profile has no condition), or none (no outcome: the sidecar failed first).",
      labelNames: ["arm", "outcome"],
      registers,
    });
    const metrics = this;
    const perSidecar = (name: string, help: string, read: (q: { depth: number; limit: number; saturated: boolean }) => number) =>
      new client.Gauge({
        name,
        help,
        labelNames: ["address"],
        registers,
        collect() {
          this.reset();
          for (const s of metrics.source?.sidecars() ?? []) if (s.queue) this.set({ address: s.address }, read(s.queue));
        },
      });
    perSidecar("steerguard_sidecar_reported_queue_depth", "Requests waiting in the sidecar's queue, as it last reported (call trailers, Info).", (q) => q.depth);
    perSidecar("steerguard_sidecar_reported_queue_limit", "The sidecar's admission limit (--max-queue), as it last reported.", (q) => q.limit);
    perSidecar("steerguard_sidecar_reported_saturated", "1 when the sidecar last reported its queue at its admission limit.", (q) => (q.saturated ? 1 : 0));
    new client.Gauge({
      name: "steerguard_sidecar_calls_inflight",
      help: "Sidecar calls in flight from this edge.",
      registers,
      collect() {
        const c = metrics.source?.calls();
        if (c) this.set(c.inflight);
      },
    });
    new client.Gauge({
      name: "steerguard_sidecar_calls_limit",
      help: "The edge's admission limit on sidecar calls in flight (sidecar.max_inflight; 0 = none).",
      registers,
      collect() {
        const c = metrics.source?.calls();
        if (c) this.set(c.limit);
      },
    });
  }

  /** Where the backpressure gauges read from at scrape time. */
  bindLoad(source: LoadSource): void {
    this.source = source;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
