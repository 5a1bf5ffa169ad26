/**
 * The engine under load and against oversized prompts: a full queue is
 * refused with RESOURCE_EXHAUSTED and a retry-after-ms derived from the queue,
 * before the prompt is tokenized; the load it reports (Info) says so; a
 * prompt too long for the context is refused before tokenizing (issue 14).
 */
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { GenerateRequest, type GenerateChunk } from "../../proto/gen/steerguard/v1/sidecar.ts";
import { QUEUE_DEPTH, RETRY_AFTER_MS } from "../../proto/metadata.ts";
import { builtModel } from "../../test/support/models.ts";
import { SidecarError } from "../server/backend.ts";
import { Engine } from "./engine.ts";

const promptRequest = (prompt: string, maxTokens = 300) =>
  GenerateRequest.fromPartial({ requestId: "r", input: { $case: "prompt", value: prompt }, sampling: { temperature: 0, maxTokens } });

const chatRequest = (...contents: string[]) =>
  GenerateRequest.fromPartial({ requestId: "c", input: { $case: "conversation", value: { messages: contents.map((content) => ({ role: "user", content })) } }, sampling: { maxTokens: 4 } });

async function drain(engine: Engine, req: GenerateRequest, signal = new AbortController().signal): Promise<GenerateChunk[]> {
  const out: GenerateChunk[] = [];
  for await (const c of engine.generate(req, signal)) out.push(c);
  return out;
}

const failure = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as SidecarError);

describe("Engine backpressure (stories260K, one row, one queue slot)", () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.load(await builtModel("stories260K"), { maxBatch: 1, maxQueue: 1 });
  });
  afterAll(() => engine.close());

  it("refuses a full queue with RESOURCE_EXHAUSTED and retry-after-ms, without tokenizing, and reports the load", async () => {
    expect(engine.load()).toMatchObject({ queueDepth: 0, queueLimit: 1, maxBatch: 1, saturated: false });
    const ctl = new AbortController();
    // One prefilling (a prompt being prefilled holds its row), one waiting in the queue slot.
    const inflight = Array.from({ length: 2 }, () => drain(engine, promptRequest("Once upon a time"), ctl.signal).catch(() => undefined));
    const load = engine.load();
    expect(load.saturated).toBe(true);
    expect(load.queueDepth).toBe(1);
    expect(engine.info().load).toMatchObject({ saturated: true, queueDepth: 1, queueLimit: 1, batchRows: 1 });

    const encode = vi.spyOn(engine.tokenizer, "encode");
    const err = await failure(drain(engine, promptRequest("one too many")));
    expect(encode).not.toHaveBeenCalled();
    encode.mockRestore();
    expect(err).toBeInstanceOf(SidecarError);
    expect(err!.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(err!.message).toMatch(/queue is full \(1 waiting, limit 1\)/);
    const retryMs = Number(err!.metadata[RETRY_AFTER_MS]);
    // queue depth x mean service / rows, whole seconds, at least 1 s.
    expect(retryMs).toBe(Math.max(1, Math.ceil((1 * load.meanServiceMs) / 1 / 1000)) * 1000);
    expect(QUEUE_DEPTH in err!.metadata).toBe(false); // the server adds the queue itself (its trailers)
    expect(engine.refusedTotal).toBe(1);

    ctl.abort();
    await Promise.all(inflight);
    expect(engine.load()).toMatchObject({ queueDepth: 0, saturated: false });
    // Served again once there is room.
    expect((await drain(engine, promptRequest("Once upon a time", 3))).at(-1)?.finish).toBeDefined();
  });

  it("rejects a prompt far past the context before tokenizing it (INVALID_ARGUMENT naming the sizes)", async () => {
    const encode = vi.spyOn(engine.tokenizer, "encode");
    const encodeParts = vi.spyOn(engine.tokenizer, "encodeParts");
    const err = await failure(drain(engine, promptRequest("word ".repeat(60_000))));
    expect(encode).not.toHaveBeenCalled();
    expect(encodeParts).not.toHaveBeenCalled();
    encode.mockRestore();
    encodeParts.mockRestore();
    expect(err).toBeInstanceOf(SidecarError);
    expect(err!.code).toBe(status.INVALID_ARGUMENT);
    expect(err!.message).toMatch(/prompt is too long: 240000 bytes of text .* at least \d+ tokens, and the model's context is 512 tokens/);
    // A prompt just over the context but under the cheap bound still gets the exact check after tokenizing.
    const exact = await failure(drain(engine, promptRequest("word ".repeat(600))));
    expect(exact!.message).toMatch(/prompt is \d+ tokens; the model's context is 512/);
  });
});

describe("Engine length check on a chat model (organism260K)", () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.load(await builtModel("organism260K"));
  });
  afterAll(() => engine.close());

  it("rejects three 100,000-character messages before tokenizing the rendered conversation", async () => {
    const encodeParts = vi.spyOn(engine.tokenizer, "encodeParts");
    const big = "a".repeat(100_000);
    const err = await failure(drain(engine, chatRequest(big, big, big)));
    expect(encodeParts).not.toHaveBeenCalled();
    expect(err!.code).toBe(status.INVALID_ARGUMENT);
    expect(err!.message).toMatch(/prompt is too long: \d+ bytes of text/);
    // A normal conversation still goes through the tokenizer and is served.
    const ok = await drain(engine, chatRequest("Tell me a story about a dog"));
    expect(encodeParts).toHaveBeenCalled();
    expect(ok.at(-1)?.finish).toBeDefined();
    encodeParts.mockRestore();
  });
});
