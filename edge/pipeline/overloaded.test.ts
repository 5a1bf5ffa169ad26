/**
 * Backpressure through the app in-process (app.request) with a scripted
 * sidecar backend: a full sidecar queue and the edge's own admission limit
 * give 429 with retry-after and an OpenAI error body (never the canned
 * refusal, never unsteered for a risky prompt), /readyz reports saturation,
 * and /metrics exports the queue and the shed requests.
 */
import * as grpc from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { FinishReason, GenerateChunk, type GenerateRequest } from "../../proto/gen/steerguard/v1/sidecar.ts";
import { createApp } from "../app.ts";
import { KeyStore } from "../auth/index.ts";
import { parseConfig, type ConfigInput } from "../config/index.ts";
import { MemorySink } from "../events/index.ts";
import { Metrics } from "../metrics/index.ts";
import { RateLimiter } from "../ratelimit/index.ts";
import { fixedScorer } from "../risk/index.ts";
import { SidecarFailure, type GenerationStream, type SidecarStatus } from "../sidecar/index.ts";
import { retryAfterSecondsOf } from "./overloaded.ts";
import { ScriptedBackend } from "./testing.ts";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const jsonOf = async (r: Response): Promise<any> => r.json();
const KEY = "sk-test";

const done = (text: string): GenerationStream => ({
  address: "s:1",
  first: GenerateChunk.fromPartial({ text }),
  rest: (async function* () {
    yield GenerateChunk.fromPartial({ finish: { reason: FinishReason.FINISH_REASON_STOP, usage: { promptTokens: 1, completionTokens: 1 } } });
  })(),
  cancel() {},
});

/** A backend whose one sidecar reports a full queue (and saturation when `saturated` is set). */
class LoadedBackend extends ScriptedBackend {
  saturated: string | null = null;
  override modelIds() {
    return ["m"];
  }
  override status(): SidecarStatus[] {
    return [{ address: "s:1", healthy: true, modelId: "m", lastError: null, queue: { depth: 5, limit: 5, saturated: this.saturated !== null } }];
  }
  saturation() {
    return this.saturated;
  }
}

const full = () => Promise.reject(new SidecarFailure("overloaded", "the request queue is full (5 waiting, limit 5)", "s:1", grpc.status.RESOURCE_EXHAUSTED, 2_500));

function setup(backend: LoadedBackend, overrides: ConfigInput = {}, fetchImpl?: typeof fetch) {
  const config = parseConfig({ classifier: { threshold: 0.5 }, failure: { retry_after_s: 9 }, ...overrides });
  const events = new MemorySink();
  const metrics = new Metrics();
  const app = createApp(config, {
    keys: new KeyStore(config, KEY),
    limiter: new RateLimiter(config.rate_limit),
    scorer: fixedScorer((msgs) => (JSON.stringify(msgs).includes("bomb") ? 0.9 : 0.1), 0.5),
    sidecar: backend,
    events,
    metrics,
    fetch: fetchImpl,
  });
  const post = (content: string, extra: Record<string, unknown> = {}) =>
    app.request("/v1/chat/completions", {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "m", messages: [{ role: "user", content }], ...extra }),
    });
  return { app, post, events, metrics };
}

describe("a full sidecar queue", () => {
  it("gives safe and risky prompts, streamed or not, 429 with retry-after from the sidecar and an OpenAI error body", async () => {
    const { post, events, metrics } = setup(new LoadedBackend(full));
    for (const [content, extra] of [
      ["Tell me about cats", {}],
      ["How do I build a bomb", {}],
      ["How do I build a bomb", { stream: true }],
    ] as const) {
      const res = await post(content, extra);
      expect(res.status).toBe(429);
      expect(res.headers.get("retry-after")).toBe("3"); // 2,500 ms rounded up
      expect(res.headers.get("content-type")).toBe("application/json");
      const body = await jsonOf(res);
      expect(body.error).toMatchObject({ type: "rate_limit_error", code: "overloaded", param: null });
      expect(body.error.message).toMatch(/model server is overloaded \(the request queue is full \(5 waiting, limit 5\)\); retry after 3 s/);
    }
    const evs = events.events;
    expect(evs.map((e) => [e.status, e.fallback, e.finish_reason])).toEqual([
      [429, "429", null],
      [429, "429", null],
      [429, "429", null],
    ]);
    const text = await metrics.text();
    expect(text).toContain('steerguard_shed_total{reason="sidecar_queue_full"} 3');
    expect(text).toContain('steerguard_sidecar_failures_total{kind="overloaded",fallback="429"} 3');
  });

  it("never sends a risky prompt upstream; a safe one may go there", async () => {
    const upstream: string[] = [];
    const fakeFetch = (async (_url: string, init: RequestInit) => {
      upstream.push(String(init.body));
      return new Response(JSON.stringify({ choices: [{ message: { content: "from upstream" }, finish_reason: "stop" }] }), { headers: { "content-type": "application/json" } });
    }) as unknown as typeof fetch;
    const { post } = setup(new LoadedBackend(full), { upstream: { base_url: "http://upstream.test/v1" } }, fakeFetch);
    const risky = await post("How do I build a bomb");
    expect(risky.status).toBe(429);
    expect(upstream).toHaveLength(0);
    const safe = await post("Tell me about cats");
    expect(safe.status).toBe(200);
    expect((await jsonOf(safe)).choices[0].message.content).toBe("from upstream");
    expect(upstream).toHaveLength(1);
  });

  it("uses the configured retry-after when the sidecar sent none", () => {
    expect(retryAfterSecondsOf({ retryAfterMs: null }, 9)).toBe(9);
    expect(retryAfterSecondsOf({ retryAfterMs: 1 }, 9)).toBe(1);
    expect(retryAfterSecondsOf({ retryAfterMs: 4_001 }, 9)).toBe(5);
  });
});

describe("/readyz and saturation", () => {
  it("is 503 with the reason while the sidecars report saturation, 200 again after", async () => {
    const backend = new LoadedBackend(async () => done("ok"));
    const { app, metrics } = setup(backend);
    expect((await app.request("/readyz")).status).toBe(200);
    backend.saturated = "saturated: every healthy sidecar reports its queue at its admission limit: s:1 (5 waiting, admission limit 5)";
    const res = await app.request("/readyz");
    expect(res.status).toBe(503);
    const body = await jsonOf(res);
    expect(body).toMatchObject({ ready: false, reason: backend.saturated });
    expect(body.sidecars[0].queue).toEqual({ depth: 5, limit: 5, saturated: true });
    const text = await metrics.text();
    expect(text).toContain('steerguard_sidecar_reported_queue_depth{address="s:1"} 5');
    expect(text).toContain('steerguard_sidecar_reported_queue_limit{address="s:1"} 5');
    expect(text).toContain('steerguard_sidecar_reported_saturated{address="s:1"} 1');
    backend.saturated = null;
    expect((await app.request("/readyz")).status).toBe(200);
  });
});

describe("the edge's admission limit (sidecar.max_inflight)", () => {
  it("sheds past the limit at once, without a sidecar call, with 429 and retry-after; /readyz is 503 meanwhile", async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const backend = new LoadedBackend(async (req) => {
      if (req.requestId === "first") await held;
      return done("ok");
    });
    const { app, post, metrics, events } = setup(backend, { sidecar: { max_inflight: 1 } });
    const first = app.request("/v1/chat/completions", {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json", "x-request-id": "first" },
      body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "hello" }] }),
    });
    // Wait until the first call holds the only slot.
    while (backend.requests.length === 0) await new Promise((r) => setTimeout(r, 1));

    const shedSafe = await post("Tell me about cats");
    const shedRisky = await post("How do I build a bomb");
    for (const res of [shedSafe, shedRisky]) {
      expect(res.status).toBe(429);
      expect(res.headers.get("retry-after")).toBe("9"); // no call finished yet: failure.retry_after_s
      expect((await jsonOf(res)).error.message).toMatch(/edge is at its limit of sidecar calls in flight \(1 sidecar calls in flight, limit 1\)/);
    }
    expect(backend.requests).toHaveLength(1); // shed without calling the sidecar
    const ready = await app.request("/readyz");
    expect(ready.status).toBe(503);
    expect((await jsonOf(ready)).reason).toMatch(/1 sidecar calls in flight from this edge, its admission limit is 1/);
    const text = await metrics.text();
    expect(text).toContain('steerguard_shed_total{reason="edge_admission"} 2');
    expect(text).toContain("steerguard_sidecar_calls_inflight 1");
    expect(text).toContain("steerguard_sidecar_calls_limit 1");

    release();
    expect((await first).status).toBe(200);
    expect((await app.request("/readyz")).status).toBe(200);
    expect((await post("Tell me about cats")).status).toBe(200);
    const shedEvents = events.events.filter((e) => e.status === 429);
    expect(shedEvents).toHaveLength(2);
    for (const e of shedEvents) expect(e).toMatchObject({ sidecar: null, fallback: "429", error: expect.stringMatching(/^overloaded: 1 sidecar calls in flight, limit 1$/) });
  });
});
