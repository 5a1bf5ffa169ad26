/**
 * The Hono app in-process (app.request) with a scripted sidecar backend:
 * routing headers, events, the failure policy, upstream, streaming errors.
 */
import { describe, expect, it } from "vitest";
import { GenerateChunk } from "../proto/gen/steerguard/v1/sidecar.ts";
import { chunk, fin, KEY, ScriptedBackend, setup, sseData, streamOf, SUBSET, LIMITED } from "./pipeline/testing.ts";
import { SECOND_STAGE_DOWN } from "./app.ts";
import { fixedScorer } from "./risk/index.ts";
import { InflightRequests } from "./shutdown/index.ts";
import { SidecarFailure } from "./sidecar/index.ts";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const jsonOf = async (r: Response): Promise<any> => r.json();

const chat = (content: string, extra: Record<string, unknown> = {}) => ({ model: "organism260K", messages: [{ role: "user", content }], ...extra });

describe("chat completions", () => {
  it("answers a benign prompt unsteered with headers, usage and one event", async () => {
    const { post, backend, events } = setup();
    const res = await post(chat("Tell me about cats"));
    expect(res.status).toBe(200);
    expect(res.headers.get("x-steerguard-route")).toBe("unsteered");
    expect(res.headers.get("x-steerguard-arm")).toBe("default");
    expect(res.headers.get("x-steerguard-risk")).toBe("0.1000");
    const body = await jsonOf(res);
    expect(body).toMatchObject({
      object: "chat.completion",
      model: "organism260K",
      choices: [{ index: 0, message: { role: "assistant", content: "Hello there" }, finish_reason: "stop" }],
      usage: { prompt_tokens: 7, completion_tokens: 2, total_tokens: 9 },
    });
    expect(backend.requests[0].steering).toBeUndefined();
    expect(events.events).toHaveLength(1);
    expect(events.events[0]).toMatchObject({ route: "unsteered", arm: "default", status: 200, backend: "sidecar", finish_reason: "stop", completion_tokens: 2 });
    expect(events.events[0].prompt).toBeUndefined();
    expect(events.events[0].completion).toBeUndefined();
  });

  it("steers a risky prompt with the configured profile and strength", async () => {
    const { post, backend } = setup();
    const res = await post(chat("how to build a bomb", { max_tokens: 5, temperature: 0, seed: 3, stop: "x" }));
    expect(res.headers.get("x-steerguard-route")).toBe("steered");
    await jsonOf(res);
    expect(backend.requests[0].steering).toEqual({ profile: "refusal", strength: 2, conditional: false });
    expect(backend.requests[0].sampling).toMatchObject({ maxTokens: 5, temperature: 0, seed: 3, stop: ["x"] });
  });

  it("sends no steering field when the profile is empty", async () => {
    const { post, backend } = setup({ steering: { profile: "" } });
    const res = await post(chat("how to build a bomb"));
    expect(res.headers.get("x-steerguard-route")).toBe("steered");
    await jsonOf(res);
    expect(backend.requests[0].steering).toBeUndefined();
  });

  it("streams OpenAI chunks with usage and [DONE]", async () => {
    const { post, events } = setup();
    const res = await post(chat("hi", { stream: true, stream_options: { include_usage: true } }));
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const frames = await sseData(res);
    expect(frames.at(-1)).toBe("[DONE]");
    const objs = frames.slice(0, -1) as Array<{ choices: Array<{ delta: { content?: string }; finish_reason: string | null }>; usage?: unknown }>;
    expect(objs[0].choices[0].delta).toEqual({ role: "assistant", content: "" });
    expect(objs.map((o) => o.choices[0]?.delta.content ?? "").join("")).toBe("Hello there");
    expect(objs.at(-2)!.choices[0].finish_reason).toBe("stop");
    expect(objs.at(-1)!.usage).toEqual({ prompt_tokens: 7, completion_tokens: 2, total_tokens: 9 });
    expect(events.events).toHaveLength(1);
  });

  it("keeps streaming past chunks that carry no text (issue 14 fault 2: the stream hung)", async () => {
    // A stop string held back by the sidecar, or a token that decodes to
    // nothing yet, arrives as a chunk with empty text and no logprobs.
    const backend = new ScriptedBackend(async () => streamOf([chunk("Once"), chunk(""), chunk(""), chunk(" upon"), chunk(""), fin(3)]));
    const { post, events } = setup({}, { backend });
    const res = await post(chat("Tell me a story about a dog", { stream: true, temperature: 0, stop: ["is a Q"] }));
    const frames = await Promise.race([sseData(res), new Promise<never>((_, reject) => setTimeout(() => reject(new Error("the stream hung")), 2_000))]);
    expect(frames.at(-1)).toBe("[DONE]");
    const objs = frames.slice(0, -1) as Array<{ choices: Array<{ delta: { content?: string }; finish_reason: string | null }> }>;
    expect(objs.map((o) => o.choices[0]?.delta.content ?? "").join("")).toBe("Once upon");
    expect(objs.some((o) => o.choices[0].delta.content === "" && o.choices[0].finish_reason === null && !("role" in o.choices[0].delta))).toBe(false);
    expect(objs.at(-1)!.choices[0].finish_reason).toBe("stop");
    expect(events.events).toHaveLength(1);
    expect(events.events[0]).toMatchObject({ status: 200, finish_reason: "stop", error: null });
  });

  it("streams to the end when the first chunk carries no text", async () => {
    const backend = new ScriptedBackend(async () => streamOf([chunk(""), chunk("Hi"), fin(1)]));
    const { post } = setup({}, { backend });
    const res = await post(chat("hi", { stream: true }));
    const frames = await Promise.race([sseData(res), new Promise<never>((_, reject) => setTimeout(() => reject(new Error("the stream hung")), 2_000))]);
    expect(frames.at(-1)).toBe("[DONE]");
  });

  it("asks for logprobs and returns them in the OpenAI shape", async () => {
    const lp = (text: string) => ({ chosen: { tokenId: 1, text, logprob: -0.5 }, top: [{ tokenId: 1, text, logprob: -0.5 }, { tokenId: 2, text: "x", logprob: -1 }] });
    const backend = new ScriptedBackend(async () =>
      streamOf([GenerateChunk.fromPartial({ text: "Hi", tokenIds: [1], logprobs: [lp("Hi")] }), fin(1)]),
    );
    const { post } = setup({}, { backend });
    const body = await jsonOf(await post(chat("hi", { logprobs: true, top_logprobs: 1 })));
    expect(backend.requests[0].sampling?.logprobs).toBe(1);
    expect(body.choices[0].logprobs).toEqual({ content: [{ token: "Hi", logprob: -0.5, bytes: [72, 105], top_logprobs: [{ token: "Hi", logprob: -0.5, bytes: [72, 105] }] }] });
  });

  it("puts text into events only when include_text is on", async () => {
    const { post, events } = setup({ events: { include_text: true } });
    await jsonOf(await post(chat("hi")));
    expect(events.events[0].completion).toBe("Hello there");
    expect(events.events[0].prompt).toEqual([{ role: "user", content: "hi", name: undefined }]);
  });

  it("assigns arms by user and experiment, with the arm's policy", async () => {
    const { post } = setup({
      experiments: [{ name: "e", arms: [{ name: "ctl", policy: "never", weight: 1 }, { name: "all", policy: "always", weight: 1 }] }],
    });
    const seen = new Map<string, string>();
    for (let i = 0; i < 20; i++) {
      const res = await post(chat("how to build a bomb", { user: `u${i}` }));
      seen.set(res.headers.get("x-steerguard-arm")!, res.headers.get("x-steerguard-route")!);
      expect(res.headers.get("x-steerguard-experiment")).toBe("e");
      await res.text();
    }
    expect(seen).toEqual(new Map([["ctl", "unsteered"], ["all", "steered"]]));
  });

  it("blocks above block_threshold without calling the sidecar", async () => {
    const { post, backend, events } = setup({
      experiments: [{ name: "e", arms: [{ name: "sel", policy: "selective", block_threshold: 0.8 }] }],
    });
    const res = await post(chat("how to build a bomb"));
    expect(res.headers.get("x-steerguard-route")).toBe("blocked");
    expect((await jsonOf(res)).choices[0].finish_reason).toBe("content_filter");
    expect(backend.requests).toHaveLength(0);
    expect(events.events[0]).toMatchObject({ route: "blocked", backend: "edge" });
  });
});

describe("failure policy", () => {
  const down = new ScriptedBackend(async () => {
    throw new SidecarFailure("unavailable", "no healthy sidecar", null);
  });

  it("fails closed for risky prompts: a refusal with finish_reason content_filter", async () => {
    const { post, events } = setup({}, { backend: down });
    const res = await post(chat("how to build a bomb"));
    expect(res.status).toBe(200);
    const body = await jsonOf(res);
    expect(body.choices[0]).toMatchObject({ finish_reason: "content_filter", message: { content: "I'm sorry, but I can't help with that." } });
    expect(events.events[0]).toMatchObject({ fallback: "refuse", route: "steered", error: expect.stringContaining("unavailable") });
  });

  it("fails closed in streams too", async () => {
    const { post } = setup({}, { backend: down });
    const frames = (await sseData(await post(chat("how to build a bomb", { stream: true })))) as Array<{ choices: Array<{ finish_reason: string | null }> }>;
    expect(frames.at(-1)).toBe("[DONE]");
    expect(frames.at(-2)!.choices[0].finish_reason).toBe("content_filter");
  });

  it("answers 503 with retry-after for safe prompts", async () => {
    const { post, events } = setup({ failure: { retry_after_s: 7 } }, { backend: down });
    const res = await post(chat("hello"));
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("7");
    expect(res.headers.get("x-steerguard-route")).toBe("unsteered");
    expect((await jsonOf(res)).error).toMatchObject({ type: "service_unavailable", code: "sidecar_unavailable" });
    expect(events.events[0]).toMatchObject({ status: 503, fallback: "503" });
  });

  it("sends safe prompts to the upstream when the sidecar fails, if one is configured", async () => {
    const calls: Array<{ url: string; body: unknown; auth: string | null }> = [];
    const fakeFetch = (async (url: string, init: RequestInit) => {
      calls.push({ url, body: JSON.parse(init.body as string), auth: new Headers(init.headers).get("authorization") });
      return new Response(JSON.stringify({ choices: [{ message: { content: "from upstream" }, finish_reason: "stop" }], usage: { prompt_tokens: 1, completion_tokens: 2 } }), {
        headers: { "content-type": "application/json" },
      });
    }) as unknown as typeof fetch;
    const { post, events } = setup({ upstream: { base_url: "http://upstream.test/v1/", api_key: "up", model: "big" } }, { backend: down, fetch: fakeFetch });
    const res = await post(chat("hello", { unknown_field: 1 }));
    expect(res.status).toBe(200);
    expect((await jsonOf(res)).choices[0].message.content).toBe("from upstream");
    expect(calls[0]).toMatchObject({ url: "http://upstream.test/v1/chat/completions", auth: "Bearer up", body: { model: "big" } });
    expect(calls[0].body).not.toHaveProperty("unknown_field");
    expect(events.events[0]).toMatchObject({ backend: "upstream", fallback: "upstream", completion_tokens: 2 });
    // Risky prompts never go to the upstream.
    const risky = await post(chat("how to build a bomb"));
    expect((await jsonOf(risky)).choices[0].finish_reason).toBe("content_filter");
    expect(calls).toHaveLength(1);
  });

  it("routes every unsteered request upstream with use: unsteered, streaming through", async () => {
    const fakeFetch = (async () =>
      new Response('data: {"choices":[{"delta":{"content":"up"},"finish_reason":null}]}\n\ndata: {"choices":[{"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n', {
        headers: { "content-type": "text/event-stream" },
      })) as unknown as typeof fetch;
    const backend = new ScriptedBackend();
    const { post, events } = setup({ upstream: { base_url: "http://upstream.test/v1", use: "unsteered" } }, { backend, fetch: fakeFetch });
    const res = await post(chat("hello", { stream: true }));
    const frames = await sseData(res);
    expect(frames.at(-1)).toBe("[DONE]");
    expect(backend.requests).toHaveLength(0);
    expect(events.events[0]).toMatchObject({ backend: "upstream", finish_reason: "stop", route: "unsteered" });
  });

  it("answers 400 when the sidecar rejects the request", async () => {
    const backend = new ScriptedBackend(async () => {
      throw new SidecarFailure("rejected", 'unknown steering profile "refusal"', "fake:1", 3);
    });
    const { post } = setup({}, { backend });
    const res = await post(chat("how to build a bomb"));
    expect(res.status).toBe(400);
    expect((await jsonOf(res)).error.message).toContain("unknown steering profile");
  });

  it("ends a stream that fails mid-way with an error event", async () => {
    const backend = new ScriptedBackend(async () => streamOf([chunk("Hel"), chunk("lo")], new SidecarFailure("unavailable", "connection reset", "fake:1", 14)));
    const { post, events } = setup({}, { backend });
    const frames = (await sseData(await post(chat("hi", { stream: true })))) as Array<{ error?: { code: string } }>;
    expect(frames.at(-1)).toMatchObject({ error: { code: "sidecar_stream_error" } });
    expect(events.events[0]).toMatchObject({ status: 502, error: expect.stringContaining("unavailable") });
  });

  it("cancels the sidecar call and records 499 when the client goes away mid-stream", async () => {
    let cancelled = 0;
    const backend = new ScriptedBackend(async () => ({
      address: "fake:1",
      first: chunk("a"),
      rest: (async function* () {
        for (;;) {
          await new Promise((r) => setTimeout(r, 5));
          yield chunk("b");
        }
      })(),
      cancel: () => void cancelled++,
    }));
    const { post, events } = setup({}, { backend });
    const res = await post(chat("hi", { stream: true }));
    const reader = res.body!.getReader();
    await reader.read();
    await reader.read();
    await reader.cancel();
    expect(cancelled).toBeGreaterThan(0);
    expect(events.events).toHaveLength(1);
    expect(events.events[0]).toMatchObject({ status: 499, error: "client_disconnect" });
  });

  it("does not cancel a finished call when the request signal aborts after the answer (Deno.serve's legacy abort)", async () => {
    const signals: AbortSignal[] = [];
    const backend = new ScriptedBackend(async (_req, opts) => {
      signals.push(opts.signal!);
      return streamOf([chunk("Paris"), fin(1)]);
    });
    const { app, events } = setup({}, { backend });
    for (const stream of [false, true]) {
      const client = new AbortController();
      const res = await app.request(
        new Request("http://edge/v1/chat/completions", {
          method: "POST",
          headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
          body: JSON.stringify(chat("hi", { stream })),
          signal: client.signal,
        }),
      );
      await res.text();
      client.abort(); // what Deno.serve does once a response was delivered
    }
    expect(signals).toHaveLength(2);
    expect(signals.map((s) => s.aborted)).toEqual([false, false]);
    expect(events.events.map((e) => e.status)).toEqual([200, 200]);
  });

  it("applies the failure policy when a non-streaming generation fails mid-way", async () => {
    const backend = new ScriptedBackend(async () => streamOf([chunk("Hel")], new SidecarFailure("timeout", "deadline", "fake:1", 4)));
    const { post } = setup({}, { backend });
    expect((await post(chat("hi"))).status).toBe(503);
    const risky = await post(chat("how to build a bomb"));
    expect((await jsonOf(risky)).choices[0].finish_reason).toBe("content_filter");
  });
});

describe("shutdown", () => {
  it("records requests a forced shutdown abandons (503, error shutdown), cancels their calls and ends their streams", async () => {
    const cancelled: string[] = [];
    // Like the pool: an aborted signal fails the call (before or after its first chunk).
    const aborted = (signal: AbortSignal, id: string) =>
      new Promise<never>((_, reject) => {
        const fail = () => (cancelled.push(id), reject(new SidecarFailure("cancelled", "aborted", "fake:1")));
        if (signal.aborted) fail();
        else signal.addEventListener("abort", fail);
      });
    const backend = new ScriptedBackend(async (req, opts) => {
      if (req.requestId === "hang") return aborted(opts.signal!, "hang"); // never starts
      if (req.requestId !== "stream") return streamOf([chunk("Hi"), fin(1)]);
      return {
        address: "fake:1",
        first: chunk("Once"),
        rest: (async function* () {
          yield await aborted(opts.signal!, "stream"); // never ends
        })(),
        cancel() {},
      };
    });
    const inflight = new InflightRequests();
    const { post, events } = setup({}, { backend, inflight });
    const done = await post(chat("hi"), { "x-request-id": "done" });
    const streaming = await post(chat("hi", { stream: true }), { "x-request-id": "stream" });
    const hanging = post(chat("hi"), { "x-request-id": "hang" });
    await new Promise((r) => setTimeout(r, 10));
    expect(inflight.size).toBe(2);
    expect(inflight.abandonAll("shutdown: test")).toBe(2);
    // Recorded at once, before the process would exit.
    expect(events.events.map((e) => [e.request_id, e.status, e.error])).toEqual([
      ["done", 200, null],
      ["stream", 503, "shutdown: test"],
      ["hang", 503, "shutdown: test"],
    ]);
    const frames = await sseData(streaming);
    expect(frames.at(-1)).toMatchObject({ error: { code: "shutting_down" } });
    await (await hanging).text();
    await done.text();
    expect(cancelled.sort()).toEqual(["hang", "stream"]);
    expect(events.events).toHaveLength(3);
    expect(inflight.size).toBe(0);
  });
});

describe("edge checks before routing", () => {
  it("401 without a key or with a bad one", async () => {
    const { post, metrics } = setup();
    const none = await post(chat("hi"), { authorization: "" });
    expect(none.status).toBe(401);
    expect((await jsonOf(none)).error.type).toBe("authentication_error");
    const bad = await post(chat("hi"), { authorization: "Bearer nope" });
    expect(bad.status).toBe(401);
    expect((await jsonOf(bad)).error.code).toBe("invalid_api_key");
    expect(await metrics.text()).toContain('steerguard_rejected_total{status="401",code="auth"} 2');
  });

  it("403 for a model the key may not use; 404 for a model not served", async () => {
    const { post } = setup();
    const res = await post(chat("hi"), { authorization: `Bearer ${SUBSET}` });
    expect(res.status).toBe(403);
    expect((await jsonOf(res)).error).toMatchObject({ type: "permission_error", param: "model" });
    const { post: post2 } = setup({ models: ["organism260K"] });
    const nf = await post2({ ...chat("hi"), model: "gpt-9" });
    expect(nf.status).toBe(404);
  });

  it("429 with retry-after over the key's rate limit", async () => {
    const { post } = setup();
    const auth = { authorization: `Bearer ${LIMITED}` };
    expect((await post(chat("hi"), auth)).status).toBe(200);
    expect((await post(chat("hi"), auth)).status).toBe(200);
    const limited = await post(chat("hi"), auth);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect((await jsonOf(limited)).error.type).toBe("rate_limit_error");
    // Other keys are not affected.
    expect((await post(chat("hi"))).status).toBe(200);
  });

  it("400 for malformed JSON and 413 for an oversized body", async () => {
    const { post } = setup();
    const bad = await post('{"model": "x", "messages": [');
    expect(bad.status).toBe(400);
    expect((await jsonOf(bad)).error).toMatchObject({ param: "body", code: "invalid_json" });
    const big = await post(chat("x".repeat(3_000)));
    expect(big.status).toBe(413);
    expect((await jsonOf(big)).error.message).toContain("body");
  });

  it("400 naming the field for each limit, ignoring unknown fields", async () => {
    const { post } = setup();
    const cases: Array<[unknown, string]> = [
      [{ messages: [{ role: "user", content: "hi" }] }, "model"],
      [{ model: "m", messages: Array(4).fill({ role: "user", content: "hi" }) }, "messages"],
      [{ model: "m", messages: [{ role: "user", content: "hi" }, { role: "user", content: "y".repeat(101) }] }, "messages[1].content"],
      [{ ...chat("hi"), max_tokens: 51 }, "max_tokens"],
      [{ ...chat("hi"), temperature: 3 }, "temperature"],
      [{ model: "m", messages: [{ role: "wizard", content: "hi" }] }, "messages[0].role"],
      [{ ...chat("hi"), n: 2 }, "n"],
    ];
    for (const [body, param] of cases) {
      const res = await post(body);
      expect(res.status, param).toBe(400);
      const err = (await jsonOf(res)).error;
      expect(err.param).toBe(param);
      expect(err.message.startsWith(`${param}:`)).toBe(true);
    }
    const ok = await post({ ...chat("hi"), frequency_penalty: 0, tools: [], tool_choice: "none", response_format: { type: "text" }, logit_bias: {}, whatever: { a: 1 } });
    expect(ok.status).toBe(200);
  });

  it("400 for a model name that is too long or not printable, neither echoed nor logged (issue 14 fault 6)", async () => {
    const { post, events, backend } = setup({ limits: { max_body_bytes: 1_048_576 } });
    for (const model of ["m".repeat(500_000), "a\u0000b", "a\ud800b"]) {
      const res = await post({ ...chat("hi"), model });
      expect(res.status).toBe(400);
      const text = await res.text();
      expect(text.length).toBeLessThan(300);
      expect(JSON.parse(text)).toEqual({ error: { message: expect.stringMatching(/^model: /), type: "invalid_request_error", param: "model", code: "invalid_value" } });
      expect(res.headers.get("x-steerguard-route")).toBeNull();
    }
    expect(events.events).toHaveLength(0);
    expect(backend.requests).toHaveLength(0);
  });

  it("400 naming the parameter for tools, tool_choice, response_format, functions and logit_bias the model cannot honour (issue 14 fault 7)", async () => {
    const { post, events, backend } = setup();
    const cases: Array<[string, unknown]> = [
      ["tools", [{ type: "function", function: { name: "get_weather", parameters: { type: "object" } } }]],
      ["tool_choice", "required"],
      ["response_format", { type: "json_schema", json_schema: { name: "answer", schema: { type: "object" } } }],
      ["functions", [{ name: "get_weather", parameters: {} }]],
      ["logit_bias", { "1": 100 }],
    ];
    for (const [param, value] of cases) {
      const res = await post({ ...chat("What is the weather in Paris?"), [param]: value });
      expect(res.status, param).toBe(400);
      expect((await jsonOf(res)).error).toEqual({
        message: expect.stringMatching(new RegExp(`^${param}: this model does not support`)),
        type: "invalid_request_error",
        param,
        code: "unsupported_parameter",
      });
    }
    expect(backend.requests).toHaveLength(0);
    expect(events.events).toHaveLength(0);
  });
});

describe("other routes", () => {
  it("warns on /readyz while the classifier's second stage is down, and stays ready", async () => {
    let up = false;
    const scorer = { ...fixedScorer(0.1), secondStageUp: () => up };
    const { app } = setup({}, { scorer });
    const down = await app.request("/readyz");
    expect(down.status).toBe(200);
    expect(await jsonOf(down)).toMatchObject({ ready: true, warnings: [SECOND_STAGE_DOWN] });
    up = true;
    expect((await jsonOf(await app.request("/readyz"))).warnings).toBeUndefined();
  });

  it("serves /healthz, /readyz, /v1/models and /metrics", async () => {
    const { app, post } = setup();
    expect((await app.request("/healthz")).status).toBe(200);
    const ready = await app.request("/readyz");
    expect(ready.status).toBe(200);
    const readyBody = await jsonOf(ready);
    expect(readyBody).toMatchObject({ ready: true, classifier: "fixed" });
    expect(readyBody.warnings).toBeUndefined();
    const models = await app.request("/v1/models", { headers: { authorization: `Bearer ${KEY}` } });
    expect(await jsonOf(models)).toEqual({ object: "list", data: [{ id: "organism260K", object: "model", created: 0, owned_by: "steerguard" }] });
    expect((await app.request("/v1/models")).status).toBe(401);
    await (await post(chat("hi"))).text();
    const text = await (await app.request("/metrics")).text();
    expect(text).toContain('steerguard_requests_total{arm="default",route="unsteered",status="200",backend="sidecar"} 1');
    expect(text).toContain("steerguard_request_duration_seconds_bucket");
    const nf = await app.request("/nope");
    expect(nf.status).toBe(404);
    expect((await jsonOf(nf)).error).toBeDefined();
  });
});
