/**
 * Prometheus metrics (prom-client, which runs under Deno as well as Node),
 * labelled by arm and route so an A/B readout needs nothing else.
 */
import client from "prom-client";

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
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
