/** The SSE body of a sidecar generation (edge/pipeline/stream.ts), in the chat wire format. */
import { describe, expect, it } from "vitest";
import { FinishReason, GenerateChunk } from "../../proto/gen/steerguard/v1/sidecar.ts";
import { chatFormat } from "../chat/format.ts";
import { usage } from "../openai/index.ts";
import type { GenerationStream } from "../sidecar/index.ts";
import { generationSse, type SseHandlers } from "./stream.ts";

const chunk = (text: string) => GenerateChunk.fromPartial({ text, tokenIds: [1] });
const fin = GenerateChunk.fromPartial({ finish: { reason: FinishReason.FINISH_REASON_STOP, usage: { promptTokens: 3, completionTokens: 2 } } });
const meta = { id: "chatcmpl-x", created: 0, model: "m" };

function gen(chunks: GenerateChunk[], failAfter?: Error): GenerationStream & { cancelled: number } {
  const [first, ...rest] = chunks;
  const g = {
    address: "fake:1",
    first,
    rest: (async function* () {
      for (const c of rest) yield c;
      if (failAfter) throw failAfter;
    })(),
    cancelled: 0,
    cancel: () => void g.cancelled++,
  };
  return g;
}

function handlers() {
  const seen: string[] = [];
  const on: SseHandlers = {
    finished: (_c, completion) => (seen.push(`finished ${completion}`), { reason: "stop", usage: usage(3, 2) }),
    failed: (err, completion) => (seen.push(`failed ${err === null ? "early" : (err as Error).message} ${completion}`), err === null ? "data: early\n\n" : ""),
    cancelled: (completion) => void seen.push(`cancelled ${completion}`),
  };
  return { on, seen };
}

/** The data of every frame, read with a deadline (a hung stream fails the test instead of timing it out). */
async function frames(body: ReadableStream<Uint8Array>): Promise<string[]> {
  const text = await Promise.race([new Response(body).text(), new Promise<never>((_, reject) => setTimeout(() => reject(new Error("the stream hung")), 1_000))]);
  return text.split("\n\n").filter(Boolean).map((f) => f.replace(/^data: /, ""));
}

describe("generationSse", () => {
  it("skips chunks without text instead of stalling, whether they come first, between or last (issue 14 fault 2)", async () => {
    const { on, seen } = handlers();
    const out = await frames(generationSse(gen([chunk(""), chunk("a"), chunk(""), chunk(""), chunk("b"), chunk(""), fin]), chatFormat(meta, { includeUsage: true, topLogprobs: null }).stream(), on));
    const objs = out.slice(0, -1).map((f) => JSON.parse(f) as { choices: Array<{ delta: { content?: string }; finish_reason: string | null }>; usage?: unknown });
    expect(objs.map((o) => o.choices[0]?.delta.content ?? null)).toEqual(["", "a", "b", null, null]);
    expect(objs[3].choices[0].finish_reason).toBe("stop");
    expect(objs[4].usage).toEqual({ prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 });
    expect(out.at(-1)).toBe("[DONE]");
    expect(seen).toEqual(["finished ab"]);
  });

  it("ends with the handler's frame when the generation fails or ends early, after many empty chunks", async () => {
    const early = handlers();
    expect(await frames(generationSse(gen([chunk("a"), ...Array(50).fill(chunk(""))]), chatFormat(meta, { includeUsage: false, topLogprobs: null }).stream(), early.on))).toEqual([
      expect.stringContaining('"role":"assistant"'),
      expect.stringContaining('"content":"a"'),
      "early",
    ]);
    expect(early.seen).toEqual(["failed early a"]);
    const broken = handlers();
    await frames(generationSse(gen([chunk("a"), chunk("")], new Error("reset")), chatFormat(meta, { includeUsage: false, topLogprobs: null }).stream(), broken.on));
    expect(broken.seen).toEqual(["failed reset a"]);
  });

  it("cancels the call when the client goes away", async () => {
    const { on, seen } = handlers();
    const g = gen([chunk("a"), chunk("b"), fin]);
    const reader = generationSse(g, chatFormat(meta, { includeUsage: false, topLogprobs: null }).stream(), on).getReader();
    await reader.read();
    await reader.cancel();
    expect(g.cancelled).toBe(1);
    expect(seen).toEqual(["cancelled "]);
  });
});
