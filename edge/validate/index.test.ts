import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../config/index.ts";
import { chatRequestSchema, readCapped, validateChat, validateChatBody, type ValidateEnv } from "./index.ts";

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
  ])("rejects %j naming %s", (body, param) => {
    const r = validateChatBody(schema, body);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.status).toBe(400);
      expect(r.param).toBe(param);
      expect(r.message.startsWith(`${param}: `)).toBe(true);
    }
  });

  it("rejects a body that is not an object", () => {
    for (const b of [[], "x", 1, null]) expect(validateChatBody(schema, b)).toMatchObject({ ok: false, status: 400 });
  });
});

describe("body reading", () => {
  it("caps the body whether or not content-length is given", async () => {
    expect(await readCapped(new Request("http://x/", { method: "POST", body: "x".repeat(10) }), 5)).toBeNull();
    const stream = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode("abc"));
        c.enqueue(new TextEncoder().encode("def"));
        c.close();
      },
    });
    const req = new Request("http://x/", { method: "POST", body: stream, duplex: "half" } as RequestInit);
    expect(await readCapped(req, 5)).toBeNull();
    const small = await readCapped(new Request("http://x/", { method: "POST", body: "abc" }), 5);
    expect(new TextDecoder().decode(small!)).toBe("abc");
  });

  it("middleware: 413 for too large, 400 for malformed JSON or invalid UTF-8", async () => {
    const app = new Hono<ValidateEnv>();
    app.post("/", validateChat(limits), (c) => c.json(c.get("chat")));
    const post = (body: string | Uint8Array) => app.request("/", { method: "POST", body });
    const big = await post(JSON.stringify({ ...ok, pad: "x".repeat(600) }));
    expect(big.status).toBe(413);
    expect(((await big.json()) as { error: { param: string } }).error.param).toBe("body");
    expect((await post("{nope")).status).toBe(400);
    expect((await post(new Uint8Array([0x7b, 0xff, 0x7d]))).status).toBe(400);
    expect((await post(JSON.stringify(ok))).status).toBe(200);
  });
});
