import { describe, expect, it } from "vitest";
import { chunkBody, completionBody, errorResponse, sse, SSE_DONE, usage, usageChunkBody } from "./index.ts";

const meta = { id: "chatcmpl-1", created: 1, model: "m" };

describe("OpenAI formats", () => {
  it("builds the error shape with the status's type", async () => {
    const res = errorResponse(429, "slow down", { code: "rate_limit_exceeded", headers: { "retry-after": "2" } });
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe("2");
    expect(await res.json()).toEqual({ error: { message: "slow down", type: "rate_limit_error", param: null, code: "rate_limit_exceeded" } });
    expect(((await errorResponse(400, "x", { param: "model" }).json()) as { error: unknown }).error).toMatchObject({ type: "invalid_request_error", param: "model" });
  });

  it("builds completions, chunks and SSE frames", () => {
    expect(completionBody(meta, "hi", "stop", usage(1, 2))).toMatchObject({
      object: "chat.completion",
      choices: [{ index: 0, message: { role: "assistant", content: "hi" }, finish_reason: "stop", logprobs: null }],
      usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 },
    });
    expect(chunkBody(meta, { content: "x" }, null)).toMatchObject({ object: "chat.completion.chunk", choices: [{ delta: { content: "x" }, finish_reason: null }] });
    expect(usageChunkBody(meta, usage(1, 1)).choices).toEqual([]);
    expect(sse({ a: 1 })).toBe('data: {"a":1}\n\n');
    expect(SSE_DONE).toBe("data: [DONE]\n\n");
  });
});
