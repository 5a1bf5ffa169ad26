import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../config/index.ts";
import { chatRequestSchema, validateChat, validateChatBody, type BodyEnv } from "./index.ts";

const limits = parseConfig({ limits: { max_body_bytes: 500, max_messages: 2, max_content_chars: 20, max_tokens: 10 } }).limits;
const schema = chatRequestSchema(limits);
const ok = { model: "m", messages: [{ role: "user", content: "hi" }] };

describe("chat request schema", () => {
  it("accepts a minimal request and drops unknown fields", () => {
    const r = validateChatBody(schema, { ...ok, logit_bias: {}, tools: [], messages: [{ role: "user", content: "hi", extra: 1 }] });
    expect(r.ok).toBe(true);
    expect(r.ok && r.value).toEqual({ model: "m", messages: [{ role: "user", content: "hi" }], stream: false });
  });

  it("accepts content parts, null content and nulls for optional fields", () => {
    const r = validateChatBody(schema, {
      ...ok,
      messages: [{ role: "user", content: [{ type: "text", text: "hi" }] }, { role: "assistant", content: null }],
      temperature: null,
      stop: ["a", "b"],
      stream_options: null,
    });
    expect(r.ok).toBe(true);
  });

  it.each([
    [{ ...ok, model: "" }, "model"],
    [{ model: "m" }, "messages"],
    [{ model: "m", messages: [] }, "messages"],
    [{ model: "m", messages: Array(3).fill({ role: "user", content: "x" }) }, "messages"],
    [{ model: "m", messages: [{ role: "user", content: "x".repeat(21) }] }, "messages[0].content"],
    [{ model: "m", messages: [{ role: "user", content: [{ type: "text", text: "x".repeat(21) }] }] }, "messages[0].content"],
    [{ model: "m", messages: [{ role: "user", content: [{ type: "image_url", image_url: {} }] }] }, "messages[0].content"],
    [{ ...ok, max_tokens: 11 }, "max_tokens"],
    [{ ...ok, max_completion_tokens: 0 }, "max_completion_tokens"],
    [{ ...ok, max_tokens: 1.5 }, "max_tokens"],
    [{ ...ok, top_p: 1.1 }, "top_p"],
    [{ ...ok, stop: ["a", "b", "c", "d", "e"] }, "stop"],
    [{ ...ok, top_logprobs: 21 }, "top_logprobs"],
    [{ ...ok, stream: "yes" }, "stream"],
    // valibot's object() alone takes arrays: found by npm run fuzz:edge.
    [{ ...ok, stream: true, stream_options: [] }, "stream_options"],
    [{ ...ok, stream_options: [[[{ include_usage: true }]]] }, "stream_options"],
    [{ ...ok, stream_options: "yes" }, "stream_options"],
  ])("rejects %j naming %s", (body, param) => {
    const r = validateChatBody(schema, body);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.status).toBe(400);
      expect(r.param).toBe(param);
      expect(r.message.startsWith(`${param}: `)).toBe(true);
    }
  });

  it.each([
    ["500,000 characters", "m".repeat(500_000)],
    ["257 characters", "m".repeat(257)],
    ["a NUL", "gpt\u0000x"],
    ["a control character", "gpt\u001b[31m"],
    ["a DEL", "gpt\u007f"],
    ["a C1 control", "gpt\u0085"],
    ["a lone high surrogate", "gpt\ud800"],
    ["a lone low surrogate", "\udc00gpt"],
  ])("rejects a model name with %s (issue 14 fault 6)", (_what, model) => {
    const r = validateChatBody(schema, { ...ok, model });
    expect(r).toMatchObject({ ok: false, status: 400, param: "model", code: "invalid_value" });
    if (!r.ok) expect(r.message.length).toBeLessThan(200);
  });

  it("accepts model names up to 256 characters, with any printable text", () => {
    for (const model of ["m".repeat(256), "org/Model-7B:v1.2", "模型 😀", "a b"]) {
      expect(validateChatBody(schema, { ...ok, model }).ok).toBe(true);
    }
  });

  it.each([
    ["user", { ...ok, user: "u".repeat(257) }],
    ["stop", { ...ok, stop: ["x".repeat(257)] }],
    ["stop", { ...ok, stop: "x".repeat(257) }],
    ["messages[0].name", { ...ok, messages: [{ role: "user", content: "hi", name: "n".repeat(257) }] }],
  ])("limits the other strings the edge forwards or logs: %s over 256 characters", (param, body) => {
    const r = validateChatBody(schema, body);
    expect(r).toMatchObject({ ok: false, status: 400 });
    if (!r.ok) expect(r.param?.startsWith(param)).toBe(true);
  });

  it.each([
    ["tools", [{ type: "function", function: { name: "f", parameters: {} } }]],
    ["tool_choice", "required"],
    ["tool_choice", { type: "function", function: { name: "f" } }],
    ["functions", [{ name: "f", parameters: {} }]],
    ["function_call", { name: "f" }],
    ["response_format", { type: "json_object" }],
    ["response_format", { type: "json_schema", json_schema: { name: "x", schema: {} } }],
    ["logit_bias", { "50256": -100 }],
    ["presence_penalty", 0.5],
    ["frequency_penalty", -1],
    ["audio", { voice: "alloy", format: "wav" }],
    ["modalities", ["text", "audio"]],
    ["web_search_options", {}],
    ["reasoning_effort", "high"],
  ])("refuses %s = %j with a 400 naming it (issue 14 fault 7)", (param, value) => {
    const r = validateChatBody(schema, { ...ok, [param]: value });
    expect(r).toMatchObject({ ok: false, status: 400, param, code: "unsupported_parameter" });
    if (!r.ok) expect(r.message).toMatch(new RegExp(`^${param}: this model does not support`));
  });

  it.each([
    ["tools", []],
    ["tools", null],
    ["tool_choice", "none"],
    ["tool_choice", "auto"],
    ["functions", []],
    ["function_call", "none"],
    ["function_call", "auto"],
    ["response_format", { type: "text" }],
    ["response_format", null],
    ["logit_bias", {}],
    ["logit_bias", null],
    ["logit_bias", { "50256": 0 }],
    ["presence_penalty", 0],
    ["frequency_penalty", 0],
    ["frequency_penalty", null],
    ["parallel_tool_calls", true],
    ["modalities", ["text"]],
    ["audio", null],
    ["store", false],
    ["metadata", { a: "b" }],
    ["service_tier", "auto"],
  ])("accepts %s = %j (the same as leaving it out)", (param, value) => {
    expect(validateChatBody(schema, { ...ok, [param]: value }).ok).toBe(true);
  });

  it("rejects a body that is not an object", () => {
    for (const b of [[], "x", 1, null]) expect(validateChatBody(schema, b)).toMatchObject({ ok: false, status: 400 });
  });
});

describe("middleware", () => {
  it("middleware: 413 for too large, 400 for malformed JSON or invalid UTF-8", async () => {
    const app = new Hono<BodyEnv>();
    app.post("/", validateChat(limits), (c) => c.json(c.get("body")));
    const post = (body: string | Uint8Array) => app.request("/", { method: "POST", body });
    const big = await post(JSON.stringify({ ...ok, pad: "x".repeat(600) }));
    expect(big.status).toBe(413);
    expect(((await big.json()) as { error: { param: string } }).error.param).toBe("body");
    expect((await post("{nope")).status).toBe(400);
    expect((await post(new Uint8Array([0x7b, 0xff, 0x7d]))).status).toBe(400);
    expect((await post(JSON.stringify(ok))).status).toBe(200);
  });

  it("408 for a body not received within body_timeout_ms, 400 for one the runtime cannot read, both asking to close the connection", async () => {
    const app = new Hono<BodyEnv>();
    app.post("/", validateChat({ ...limits, body_timeout_ms: 50 }), (c) => c.json(c.get("body")));
    const post = (body: ReadableStream<Uint8Array>) => app.request("/", { method: "POST", body, duplex: "half" } as RequestInit);
    const stalled = await post(new ReadableStream({ start: (c) => c.enqueue(new TextEncoder().encode("{")) }));
    expect(stalled.status).toBe(408);
    expect(stalled.headers.get("connection")).toBe("close");
    expect((await stalled.json()) as unknown).toEqual({
      error: { message: "body: the request body was not received within 50 ms", type: "invalid_request_error", param: "body", code: "body_timeout" },
    });
    const broken = await post(new ReadableStream({ pull: (c) => c.error(new Error("invalid chunk size")) }));
    expect(broken.status).toBe(400);
    expect(broken.headers.get("connection")).toBe("close");
    expect(((await broken.json()) as { error: unknown }).error).toEqual({
      message: "body: the request body could not be read (invalid chunk size)",
      type: "invalid_request_error",
      param: "body",
      code: "invalid_body",
    });
  });

  it("does not echo more than 40 characters of a wrong value", async () => {
    const r = validateChatBody(schema, { ...ok, stream: "x".repeat(100_000) });
    expect(r).toMatchObject({ ok: false, param: "stream" });
    if (!r.ok) expect(r.message.length).toBeLessThan(120);
  });
});
