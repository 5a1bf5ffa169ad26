/**
 * The Hono app in-process for tests (app.request) with a scripted sidecar
 * backend: `setup(config overrides, options)` gives the app, the backend's
 * requests, the events and the metrics. Used by edge/app.test.ts and the
 * wire-format tests.
 */
import { FinishReason, GenerateChunk, type GenerateRequest } from "../../proto/gen/steerguard/v1/sidecar.ts";
import { createApp } from "../app.ts";
import { KeyStore, sha256Hex } from "../auth/index.ts";
import { parseConfig, type ConfigInput } from "../config/index.ts";
import { MemorySink } from "../events/index.ts";
import { Metrics } from "../metrics/index.ts";
import { RateLimiter } from "../ratelimit/index.ts";
import { fixedScorer, type RiskScorer } from "../risk/index.ts";
import type { InflightRequests } from "../shutdown/index.ts";
import type { GenerationStream, SidecarBackend, SidecarFailure, SidecarStatus, StartOptions } from "../sidecar/index.ts";

type Script = (req: GenerateRequest, opts: StartOptions) => Promise<GenerationStream>;

export const chunk = (text: string) => GenerateChunk.fromPartial({ text, tokenIds: [1] });
export const fin = (n: number, reason = FinishReason.FINISH_REASON_STOP) =>
  GenerateChunk.fromPartial({ finish: { reason, usage: { promptTokens: 7, completionTokens: n } } });

export function streamOf(chunks: GenerateChunk[], failAfter?: SidecarFailure): GenerationStream {
  const [first, ...rest] = chunks;
  return {
    address: "fake:1",
    first,
    rest: (async function* () {
      for (const c of rest) yield c;
      if (failAfter) throw failAfter;
    })(),
    cancel() {},
  };
}

export class ScriptedBackend implements SidecarBackend {
  requests: GenerateRequest[] = [];
  /** Set to answer SidecarBackend.withoutCondition (absent: the backend knows no profiles). */
  withoutCondition?: (profile: string) => string[];
  constructor(public script: Script = async () => streamOf([chunk("Hello"), chunk(" there"), fin(2)])) {}
  start(req: GenerateRequest, opts: StartOptions) {
    this.requests.push(req);
    return this.script(req, opts);
  }
  ready() {
    return true;
  }
  modelIds() {
    return ["organism260K"];
  }
  status(): SidecarStatus[] {
    return [{ address: "fake:1", healthy: true, modelId: "organism260K", lastError: null }];
  }
  close() {}
}

export const KEY = "sk-test";
export const LIMITED = "sk-limited";
export const SUBSET = "sk-subset";

export interface SetupOptions {
  risk?: number | ((m: unknown) => number);
  backend?: ScriptedBackend;
  fetch?: typeof fetch;
  inflight?: InflightRequests;
  /** A real backend (e.g. a SidecarPool) in place of the scripted one; `backend` is then unused. */
  sidecar?: SidecarBackend;
  /** A scorer in place of the fixed one (`risk` is then unused). */
  scorer?: RiskScorer;
}

/** The app with a test config (`overrides` on top); risk 0.9 for anything mentioning "bomb", else 0.1. */
export function setup(overrides: ConfigInput = {}, opts: SetupOptions = {}) {
  const config = parseConfig({
    steering: { profile: "refusal", strength: 2 },
    classifier: { threshold: 0.5 },
    auth: {
      keys: [
        { id: "limited", sha256: sha256Hex(LIMITED), rate_limit: { requests_per_minute: 60, burst: 2 } },
        { id: "subset", sha256: sha256Hex(SUBSET), models: ["other"] },
      ],
    },
    limits: { max_body_bytes: 2_000, max_messages: 3, max_content_chars: 100, max_tokens: 50 },
    ...overrides,
  });
  const backend = opts.backend ?? new ScriptedBackend();
  const events = new MemorySink();
  const metrics = new Metrics();
  const app = createApp(config, {
    keys: new KeyStore(config, KEY),
    limiter: new RateLimiter(config.rate_limit),
    scorer: opts.scorer ?? fixedScorer(opts.risk ?? ((msgs: unknown) => (JSON.stringify(msgs).includes("bomb") ? 0.9 : 0.1)), 0.5),
    sidecar: opts.sidecar ?? backend,
    events,
    metrics,
    fetch: opts.fetch,
    inflight: opts.inflight,
  });
  const postTo = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    app.request(path, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json", ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
  const post = (body: unknown, headers: Record<string, string> = {}) => postTo("/v1/chat/completions", body, headers);
  /** A fetch that serves the app in-process, for SDK clients (baseURL http://edge/v1). */
  const appFetch = ((input: string | URL | Request, init?: RequestInit) => app.request(input instanceof Request ? input : String(input), init)) as typeof fetch;
  return { app, backend, events, metrics, post, postTo, appFetch, config };
}

/** The data of every SSE frame (JSON parsed, "[DONE]" kept as is). */
export async function sseData(res: Response): Promise<unknown[]> {
  const text = await res.text();
  return text
    .split("\n\n")
    .map((s) => s.split("\n").find((l) => l.startsWith("data: ")))
    .filter((s): s is string => s !== undefined)
    .map((s) => s.slice(6))
    .map((s) => (s === "[DONE]" ? s : JSON.parse(s)));
}
