/**
 * Wires the edge's parts from a config and the environment: the pieces
 * edge/main.ts (Deno) and tests (Node) both need.
 */
import type { AppDeps } from "./app.ts";
import { KeyStore } from "./auth/index.ts";
import { applyEnv, checkConditionalProfiles, parseConfig, parseConfigText, type Config } from "./config/index.ts";
import { openSink } from "./events/index.ts";
import { Metrics } from "./metrics/index.ts";
import { RateLimiter } from "./ratelimit/index.ts";
import { loadRiskScorer } from "./risk/index.ts";
import { InflightRequests } from "./shutdown/inflight.ts";
import { bandedProfiles, ConditionWarningLog } from "./sidecar/condition-warnings.ts";
import { SidecarPool } from "./sidecar/index.ts";

export interface Env {
  STEERGUARD_CONFIG?: string;
  STEERGUARD_API_KEYS?: string;
  STEERGUARD_SIDECARS?: string;
  [k: string]: string | undefined;
}

/** Reads and validates the config named by STEERGUARD_CONFIG (or the defaults), with env overrides applied. */
export async function loadConfig(env: Env, readText: (path: string) => Promise<string>): Promise<Config> {
  const path = env.STEERGUARD_CONFIG;
  const config = applyEnv(path ? parseConfigText(await readText(path), path) : parseConfig({}), env);
  // The steering profile may come from the environment, so this waits for it.
  checkConditionalProfiles(config);
  return config;
}

export interface Edge {
  config: Config;
  deps: AppDeps & { sidecar: SidecarPool; inflight: InflightRequests };
  close(): Promise<void>;
}

export async function buildEdge(config: Config, env: Env, log: (line: string) => void): Promise<Edge> {
  const keys = new KeyStore(config, env.STEERGUARD_API_KEYS);
  if (keys.size === 0 && !config.auth.disabled) {
    throw new Error("no API keys configured: set STEERGUARD_API_KEYS (comma-separated) or auth.keys in the config file, or auth.disabled for development");
  }
  const scorer = await loadRiskScorer({ artifact: config.classifier.artifact, secondStage: config.classifier.second_stage && { waitBudgetMs: config.classifier.second_stage_wait_ms }, warn: log });
  const metrics = new Metrics();
  // A band whose profile has no condition on a sidecar: said once, when its Info shows it.
  const conditionLog = new ConditionWarningLog(bandedProfiles(config), log);
  const sidecar = new SidecarPool(config.sidecars, {
    healthIntervalMs: config.sidecar.health_interval_ms,
    healthTimeoutMs: config.sidecar.health_timeout_ms,
    tls: config.sidecar.tls && { ca: config.sidecar.tls.ca, cert: config.sidecar.tls.cert, key: config.sidecar.tls.key, serverName: config.sidecar.tls.server_name },
    log: (line) => log(`edge: ${line}`),
    onProfiles: (address, profiles) => conditionLog.observe(address, profiles),
    onHealth(address, healthy, reason) {
      metrics.sidecarHealthy.set({ address }, healthy ? 1 : 0);
      log(`edge: sidecar ${address} is ${healthy ? "healthy" : `down (${reason ?? "not serving"})`}`);
    },
  });
  for (const address of config.sidecars) metrics.sidecarHealthy.set({ address }, 0);
  void sidecar.startHealthChecks();
  const events = openSink(config.events.path);
  const limiter = new RateLimiter(config.rate_limit);
  const band = config.classifier.condition_band;
  const banded = band ? `, condition band [${band.low}, ${band.high})` : "";
  log(`edge: classifier ${scorer.source} (threshold ${config.classifier.threshold ?? scorer.threshold}${banded}); sidecars ${config.sidecars.join(", ")} (${config.sidecar.tls ? "mutual TLS" : "plaintext"}); ${keys.size} API key(s)${config.auth.disabled ? ", AUTH DISABLED" : ""}${trustNote(config)}`);
  return {
    config,
    deps: { keys, limiter, scorer, sidecar, events, metrics, inflight: new InflightRequests() },
    async close() {
      sidecar.close();
      await events.close();
    },
  };
}

/** The startup log's word on what the gate scores beyond user turns (edge/risk/trusted.ts, served.ts); "" when nothing changes it. */
function trustNote(config: Config): string {
  const hashes = config.classifier.trusted_system_prompts.length;
  const keys = config.auth.keys.filter((k) => k.trust_system_prompt).map((k) => k.id);
  const parts = [
    hashes > 0 ? `${hashes} trusted system prompt(s)` : "",
    keys.length > 0 ? `system prompts of key(s) ${keys.join(", ")} not scored` : "",
    config.classifier.assistant_turns === "unserved" ? `assistant turns this edge did not serve scored (remembers ${config.classifier.served_memory})` : "",
  ].filter(Boolean);
  return parts.length > 0 ? `; ${parts.join("; ")}` : "";
}
