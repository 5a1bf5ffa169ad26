/**
 * POST /v1/responses in-process, through the official openai client (its
 * fetch serves the app): conversion to sidecar turns, risk over instructions
 * and input, what is refused, the event sequence the SDK's stream helper
 * accumulates, length stops, the edge's refusal, errors mid-stream, and no
 * upstream path.
 */
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { FinishReason, GenerateChunk } from "../../proto/gen/steerguard/v1/sidecar.ts";
import { SidecarFailure } from "../sidecar/index.ts";
import { chunk, fin, KEY, ScriptedBackend, setup, streamOf } from "../pipeline/testing.ts";

const clientFor = (appFetch: typeof fetch) => new OpenAI({ apiKey: KEY, baseURL: "http://edge/v1", fetch: appFetch, maxRetries: 0 });
const down = () =>
  new ScriptedBackend(async () => {
    throw new SidecarFailure("unavailable", "no healthy sidecar", null);
  });

describe("POST /v1/responses", () => {
  it("sends instructions and input items as turns, scores them all, and answers a response object", async () => {
    const { appFetch, backend, events } = setup();
    const client = clientFor(appFetch);
    const { data, response } = await client.responses
      .create({
        model: "organism260K",
        instructions: "Never explain how to build a bomb",
        input: [
          { role: "developer", content: "be brief" },
          { role: "user", content: [{ type: "input_text", text: "a" }, { type: "input_text", text: "b" }] },
          { type: "message", role: "assistant", content: [{ type: "output_text", text: "ok", annotations: [] }] } as unknown as OpenAI.Responses.ResponseInputItem,
        ],
        max_output_tokens: 9,
        temperature: 0.5,
        top_p: 0.9,
        store: true,
      })
      .withResponse();
    expect(backend.requests[0].input).toEqual({
      $case: "conversation",
      value: {
        messages: [
          { role: "system", content: "Never explain how to build a bomb" },
          { role: "system", content: "be brief" },
          { role: "user", content: "a\nb" },
          { role: "assistant", content: "ok" },
        ],
      },
    });
    expect(backend.requests[0].sampling).toMatchObject({ maxTokens: 9, temperature: 0.5, topP: 0.9 });
    // "bomb" only in the instructions: they are scored.
    expect(response.headers.get("x-steerguard-route")).toBe("steered");
    expect(backend.requests[0].steering).toEqual({ profile: "refusal", strength: 2, conditional: false });
    expect(data).toMatchObject({
      object: "response",
      status: "completed",
      incomplete_details: null,
      instructions: "Never explain how to build a bomb",
      store: false,
      output: [{ type: "message", role: "assistant", status: "completed", content: [{ type: "output_text", text: "Hello there", annotations: [] }] }],
      usage: { input_tokens: 7, output_tokens: 2, total_tokens: 9 },
    });
    expect(data.output_text).toBe("Hello there");
    expect(data.id).toBe(`resp_${response.headers.get("x-request-id")}`);
    expect(events.events).toHaveLength(1);
    expect(events.events[0]).toMatchObject({ route: "steered", status: 200, finish_reason: "stop", completion_tokens: 2 });
  });

  it("a length stop is incomplete (max_output_tokens), streamed through the SDK's helper with logprobs", async () => {
    const lp = (text: string) => ({ chosen: { tokenId: 1, text, logprob: -0.25 }, top: [{ tokenId: 1, text, logprob: -0.25 }, { tokenId: 2, text: "x", logprob: -2 }] });
    const backend = new ScriptedBackend(async () =>
      streamOf([
        GenerateChunk.fromPartial({ text: "", tokenIds: [] }),
        GenerateChunk.fromPartial({ text: "Hi", tokenIds: [1], logprobs: [lp("Hi")] }),
        GenerateChunk.fromPartial({ text: "!", tokenIds: [1], logprobs: [lp("!")] }),
        fin(2, FinishReason.FINISH_REASON_LENGTH),
      ]),
    );
    const { appFetch, events } = setup({}, { backend });
    const stream = clientFor(appFetch).responses.stream({ model: "organism260K", input: "hi", include: ["message.output_text.logprobs"], top_logprobs: 1 });
    const deltas: string[] = [];
    stream.on("response.output_text.delta", (e) => deltas.push(e.delta));
    const final = await stream.finalResponse();
    expect(backend.requests[0].sampling?.logprobs).toBe(1);
    expect(deltas).toEqual(["Hi", "!"]);
    expect(final).toMatchObject({ status: "incomplete", incomplete_details: { reason: "max_output_tokens" }, usage: { output_tokens: 2 } });
    expect(final.output_text).toBe("Hi!");
    const part = (final.output[0] as OpenAI.Responses.ResponseOutputMessage).content[0] as OpenAI.Responses.ResponseOutputText;
    expect(part.logprobs).toEqual([
      { token: "Hi", logprob: -0.25, bytes: [72, 105], top_logprobs: [{ token: "Hi", logprob: -0.25, bytes: [72, 105] }] },
      { token: "!", logprob: -0.25, bytes: [33], top_logprobs: [{ token: "!", logprob: -0.25, bytes: [33] }] },
    ]);
    expect(events.events[0]).toMatchObject({ stream: true, finish_reason: "length", status: 200 });
  });

  it("refuses tools, structured output, non-message items, images, reasoning and previous_response_id, naming each", async () => {
    const { postTo, backend, events } = setup();
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ tools: [{ type: "function", name: "f", parameters: {} }] }, "tools", "unsupported_parameter"],
      [{ tool_choice: "required" }, "tool_choice", "unsupported_parameter"],
      [{ text: { format: { type: "json_schema", name: "x", schema: {} } } }, "text.format", "unsupported_parameter"],
      [{ reasoning: { effort: "high" } }, "reasoning", "unsupported_parameter"],
      [{ background: true }, "background", "unsupported_parameter"],
      [{ input: [{ role: "user", content: "hi" }, { type: "function_call_output", call_id: "c", output: "{}" }] }, "input[1]", "unsupported_parameter"],
      [{ input: [{ role: "user", content: [{ type: "input_image", image_url: "https://x/y.png" }] }] }, "input[0].content", "unsupported_parameter"],
      [{ input: [{ role: "user", content: [{ type: "input_audio", input_audio: {} }] }] }, "input[0].content", "unsupported_parameter"],
      [{ previous_response_id: "resp_abc" }, "previous_response_id", "previous_response_not_found"],
      [{ input: [] }, "input", "invalid_value"],
      [{ input: "x".repeat(101) }, "input", "invalid_value"],
      [{ instructions: "x".repeat(101) }, "instructions", "invalid_value"],
      [{ max_output_tokens: 51 }, "max_output_tokens", "invalid_value"],
      [{ input: [{ role: "tool", content: "x" }] }, "input[0].role", "invalid_value"],
    ];
    for (const [extra, param, code] of cases) {
      const res = await postTo("/v1/responses", { model: "organism260K", input: "hi", ...extra });
      expect(res.status, param).toBe(400);
      const { error } = (await res.json()) as { error: { param: string; code: string; message: string } };
      expect(error, param).toMatchObject({ param, code });
      expect(error.message.startsWith(`${param}: `), error.message).toBe(true);
    }
    expect(backend.requests).toHaveLength(0);
    expect(events.events).toHaveLength(0);
    const ok = await postTo("/v1/responses", {
      model: "organism260K",
      input: "hi",
      tools: [],
      tool_choice: "auto",
      text: { format: { type: "text" }, verbosity: "medium" },
      reasoning: { effort: null },
      store: true,
      metadata: { a: "b" },
      truncation: "disabled",
      include: [],
      parallel_tool_calls: true,
      background: false,
    });
    expect(ok.status).toBe(200);
  });

  it("fails closed for a risky prompt with an incomplete response (content_filter), streamed or not", async () => {
    const { appFetch, events } = setup({}, { backend: down() });
    const client = clientFor(appFetch);
    const whole = await client.responses.create({ model: "organism260K", input: "how to build a bomb" });
    expect(whole).toMatchObject({ status: "incomplete", incomplete_details: { reason: "content_filter" }, usage: { input_tokens: 0, output_tokens: 0 } });
    expect(whole.output_text).toBe("I'm sorry, but I can't help with that.");
    const streamed = await client.responses.stream({ model: "organism260K", input: "how to build a bomb" }).finalResponse();
    expect(streamed).toMatchObject({ status: "incomplete", incomplete_details: { reason: "content_filter" } });
    expect(streamed.output_text).toBe("I'm sorry, but I can't help with that.");
    expect(events.events.map((e) => [e.fallback, e.backend, e.finish_reason])).toEqual([
      ["refuse", "edge", "content_filter"],
      ["refuse", "edge", "content_filter"],
    ]);
  });

  it("ends a stream that fails mid-way with an error event, which the SDK raises", async () => {
    const backend = new ScriptedBackend(async () => streamOf([chunk("Hel"), chunk("lo")], new SidecarFailure("unavailable", "connection reset", "fake:1", 14)));
    const { appFetch, events } = setup({}, { backend });
    const stream = await clientFor(appFetch).responses.create({ model: "organism260K", input: "hi", stream: true });
    const types: string[] = [];
    const err = await (async () => {
      for await (const ev of stream) types.push(ev.type);
    })().then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect((err as Error).message).toMatch(/failed mid-stream/);
    expect(types.filter((t) => t === "response.output_text.delta")).toHaveLength(2);
    expect(types).not.toContain("response.completed");
    expect(events.events[0]).toMatchObject({ status: 502, error: expect.stringContaining("unavailable") });
  });

  it("has no upstream path: the sidecar answers with use: unsteered, and a failure is a 503", async () => {
    let upstreamCalls = 0;
    const fakeFetch = (async () => (upstreamCalls++, new Response("{}"))) as unknown as typeof fetch;
    const upstream = { base_url: "http://upstream.test/v1", use: "unsteered" as const };
    const served = setup({ upstream }, { fetch: fakeFetch });
    expect((await served.postTo("/v1/responses", { model: "organism260K", input: "hello" })).status).toBe(200);
    expect(served.backend.requests).toHaveLength(1);
    const failed = setup({ upstream: { ...upstream, use: "fallback" } }, { fetch: fakeFetch, backend: down() });
    const res = await failed.postTo("/v1/responses", { model: "organism260K", input: "hello" });
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).not.toBeNull();
    expect(upstreamCalls).toBe(0);
    expect(failed.events.events[0]).toMatchObject({ status: 503, fallback: "503" });
  });
});
