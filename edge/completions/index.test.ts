/**
 * POST /v1/completions (legacy) in-process, through the official openai
 * client (its fetch serves the app): the raw-prompt input, risk over the
 * prompt, the default of 16 tokens, legacy logprobs, streaming, what is
 * refused, the edge's refusal and errors mid-stream.
 */
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { GenerateChunk } from "../../proto/gen/steerguard/v1/sidecar.ts";
import { SidecarFailure } from "../sidecar/index.ts";
import { chunk, fin, KEY, ScriptedBackend, setup, sseData, streamOf } from "../pipeline/testing.ts";

const clientFor = (appFetch: typeof fetch) => new OpenAI({ apiKey: KEY, baseURL: "http://edge/v1", fetch: appFetch, maxRetries: 0 });

describe("POST /v1/completions", () => {
  it("sends the prompt raw (no chat template), scores it as a user turn, and answers a text_completion", async () => {
    const seen: unknown[] = [];
    const { appFetch, backend, events } = setup({}, { risk: (m) => (seen.push(m), JSON.stringify(m).includes("bomb") ? 0.9 : 0.1) });
    const client = clientFor(appFetch);
    const { data, response } = await client.completions
      .create({ model: "organism260K", prompt: "Once upon a time", temperature: 0, top_p: 0.5, seed: 3, stop: ["\n\n"] })
      .withResponse();
    expect(backend.requests[0].input).toEqual({ $case: "prompt", value: "Once upon a time" });
    expect(backend.requests[0].sampling).toMatchObject({ maxTokens: 16, temperature: 0, topP: 0.5, seed: 3, stop: ["\n\n"], logprobs: 0 });
    expect(seen).toEqual([[{ role: "user", content: "Once upon a time" }]]);
    expect(response.headers.get("x-steerguard-route")).toBe("unsteered");
    expect(data).toMatchObject({
      id: `cmpl-${response.headers.get("x-request-id")}`,
      object: "text_completion",
      model: "organism260K",
      choices: [{ index: 0, text: "Hello there", finish_reason: "stop", logprobs: null }],
      usage: { prompt_tokens: 7, completion_tokens: 2, total_tokens: 9 },
    });
    const risky = await client.completions.create({ model: "organism260K", prompt: ["how to build a bomb"], max_tokens: 5 }).withResponse();
    expect(risky.response.headers.get("x-steerguard-route")).toBe("steered");
    expect(backend.requests[1]).toMatchObject({ input: { $case: "prompt", value: "how to build a bomb" }, sampling: { maxTokens: 5 }, steering: { profile: "refusal", strength: 2 } });
    expect(events.events.map((e) => e.route)).toEqual(["unsteered", "steered"]);
  });

  it("streams text_completion chunks with legacy logprobs, usage and [DONE]", async () => {
    const lp = (text: string, logprob: number) => ({ chosen: { tokenId: 1, text, logprob }, top: [{ tokenId: 1, text, logprob }, { tokenId: 2, text: "z", logprob: -3 }] });
    const backend = new ScriptedBackend(async () =>
      streamOf([GenerateChunk.fromPartial({ text: "Once", tokenIds: [1], logprobs: [lp("Once", -0.5)] }), chunk(""), GenerateChunk.fromPartial({ text: " upon", tokenIds: [1], logprobs: [lp(" upon", -1)] }), fin(2)]),
    );
    const { postTo, events } = setup({}, { backend });
    const res = await postTo("/v1/completions", { model: "organism260K", prompt: "x", logprobs: 2, stream: true, stream_options: { include_usage: true } });
    const frames = (await sseData(res)) as Array<{ object: string; choices: Array<{ text: string; logprobs: unknown; finish_reason: string | null }>; usage?: unknown }>;
    expect(frames.at(-1)).toBe("[DONE]");
    const objs = frames.slice(0, -1);
    expect(objs.every((o) => o.object === "text_completion")).toBe(true);
    expect(objs.map((o) => o.choices[0]?.text ?? null)).toEqual(["Once", " upon", "", null]);
    expect(objs[0].choices[0].logprobs).toEqual({ tokens: ["Once"], token_logprobs: [-0.5], top_logprobs: [{ Once: -0.5, z: -3 }], text_offset: [0] });
    expect(objs[1].choices[0].logprobs).toEqual({ tokens: [" upon"], token_logprobs: [-1], top_logprobs: [{ " upon": -1, z: -3 }], text_offset: [4] });
    expect(objs[2].choices[0].finish_reason).toBe("stop");
    expect(objs[3]).toMatchObject({ choices: [], usage: { prompt_tokens: 7, completion_tokens: 2, total_tokens: 9 } });
    expect(events.events[0]).toMatchObject({ stream: true, status: 200, finish_reason: "stop" });
  });

  it("refuses several prompts, token-id prompts, n, best_of, echo, suffix and penalties, naming each", async () => {
    const { postTo, backend } = setup();
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ prompt: ["a", "b"] }, "prompt", "unsupported_parameter"],
      [{ prompt: [1, 2, 3] }, "prompt", "unsupported_parameter"],
      [{ prompt: [[1, 2]] }, "prompt", "unsupported_parameter"],
      [{ n: 2 }, "n", "unsupported_parameter"],
      [{ best_of: 3 }, "best_of", "unsupported_parameter"],
      [{ echo: true }, "echo", "unsupported_parameter"],
      [{ suffix: "end" }, "suffix", "unsupported_parameter"],
      [{ logit_bias: { "1": 5 } }, "logit_bias", "unsupported_parameter"],
      [{ presence_penalty: 1 }, "presence_penalty", "unsupported_parameter"],
      [{ prompt: "x".repeat(101) }, "prompt", "invalid_value"],
      [{ prompt: [] }, "prompt", "invalid_value"],
      [{ logprobs: 21 }, "logprobs", "invalid_value"],
      [{ max_tokens: 51 }, "max_tokens", "invalid_value"],
    ];
    for (const [extra, param, code] of cases) {
      const res = await postTo("/v1/completions", { model: "organism260K", prompt: "hi", ...extra });
      expect(res.status, JSON.stringify(extra)).toBe(400);
      expect(((await res.json()) as { error: unknown }).error, JSON.stringify(extra)).toMatchObject({ param, code, message: expect.stringMatching(new RegExp(`^${param}: `)) });
    }
    expect(backend.requests).toHaveLength(0);
    const ok = await postTo("/v1/completions", { model: "organism260K", prompt: "hi", n: 1, best_of: 1, echo: false, frequency_penalty: 0, logit_bias: {} });
    expect(ok.status).toBe(200);
  });

  it("blocks with the refusal text (content_filter), and ends a failing stream with an error the SDK raises", async () => {
    const blocked = setup({ experiments: [{ name: "e", arms: [{ name: "sel", policy: "selective", block_threshold: 0.8 }] }] });
    const refusal = await clientFor(blocked.appFetch).completions.create({ model: "organism260K", prompt: "how to build a bomb" });
    expect(refusal.choices[0]).toMatchObject({ text: "I'm sorry, but I can't help with that.", finish_reason: "content_filter" });
    expect(blocked.backend.requests).toHaveLength(0);

    const backend = new ScriptedBackend(async () => streamOf([chunk("Hel")], new SidecarFailure("timeout", "deadline", "fake:1", 4)));
    const failing = setup({}, { backend });
    const stream = await clientFor(failing.appFetch).completions.create({ model: "organism260K", prompt: "hi", stream: true });
    let text = "";
    const err = await (async () => {
      for await (const c of stream) text += c.choices[0]?.text ?? "";
    })().then(() => null, (e: unknown) => e);
    expect(text).toBe("Hel");
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(failing.events.events[0]).toMatchObject({ status: 504, error: expect.stringContaining("timeout") });
  });
});
