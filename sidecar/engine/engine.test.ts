import { status } from "@grpc/grpc-js";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FinishReason, GenerateRequest, type GenerateChunk } from "../../proto/gen/steerguard/v1/sidecar.ts";
import { builtModel, SHARED_MODELS } from "../../test/support/models.ts";
import { loadLlama2c } from "../model/llama2c.ts";
import { referenceGreedy } from "../model/reference.ts";
import { SidecarError } from "../server/backend.ts";
import { Engine } from "./engine.ts";

type Sampling = NonNullable<GenerateRequest["sampling"]>;

function promptRequest(prompt: string, sampling: Partial<Sampling> = {}): GenerateRequest {
  return GenerateRequest.fromPartial({ requestId: prompt, input: { $case: "prompt", value: prompt }, sampling: { temperature: 0, maxTokens: 24, ...sampling } });
}

/** Resolves once `cond()` holds (checked every 5 ms); fails after `ms`. */
async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not reached in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function run(engine: Engine, req: GenerateRequest, signal = new AbortController().signal) {
  const chunks: GenerateChunk[] = [];
  for await (const c of engine.generate(req, signal)) chunks.push(c);
  return {
    chunks,
    tokens: chunks.flatMap((c) => c.tokenIds),
    text: chunks.map((c) => c.text).join(""),
    finish: chunks.at(-1)!.finish!,
  };
}

describe("Engine on stories260K", () => {
  let engine: Engine;
  let dir: string;
  beforeAll(async () => {
    dir = await builtModel("stories260K");
    engine = await Engine.load(dir, { maxBatch: 4, maxQueue: 2 });
  });
  afterAll(() => engine.close());

  it("greedy output from 'Once upon a time' matches the reference forward pass token for token", async () => {
    const weights = loadLlama2c(join(SHARED_MODELS, "stories260K/stories260K.bin"));
    const ids = engine.tokenizer.encode("Once upon a time");
    const expected = referenceGreedy(weights, ids, 64);
    const res = await run(engine, promptRequest("Once upon a time", { maxTokens: 64 }));
    expect(res.tokens).toEqual(expected);
    // The numpy port of llama2.c's run.c (../shared/models/stories260K/README.md) prints this.
    expect(res.text).toMatch(/^, there was a little girl named Lily\. She loved to play outside in the park\./);
    expect(res.finish.reason).toBe(FinishReason.FINISH_REASON_LENGTH);
    expect(res.finish.usage!.completionTokens).toBe(64);
    expect(res.finish.usage!.promptTokens).toBe(ids.length);
  });

  it("gives each request in a batch the same tokens as running it alone", async () => {
    const prompts = [
      promptRequest("Once upon a time", { maxTokens: 30 }),
      promptRequest("The little dog", { maxTokens: 12 }),
      promptRequest("Tom and Sue went to the big park to play with a red ball", { maxTokens: 25 }),
      // Sampled with a seed: each row owns its RNG, so batching must not change it.
      promptRequest("Lily saw a bird", { maxTokens: 20, temperature: 0.9, topP: 0.95, seed: 7 }),
    ];
    const alone = [];
    for (const p of prompts) alone.push((await run(engine, p)).tokens);
    const stepsBefore = engine["scheduler"].steps;
    const together = await Promise.all(prompts.map((p) => run(engine, p)));
    expect(together.map((r) => r.tokens)).toEqual(alone);
    // Batched: far fewer model calls than the 87 tokens generated one row at a time.
    expect(engine["scheduler"].steps - stepsBefore).toBeLessThan(45);
  });

  it("stops decoding a cancelled request within a step and frees its row", async () => {
    const ctl = new AbortController();
    const it = engine.generate(promptRequest("Once upon a time", { maxTokens: 400 }), ctl.signal)[Symbol.asyncIterator]();
    await it.next();
    await it.next();
    const scheduler = engine["scheduler"];
    expect(scheduler.batchSize).toBe(1);
    const steps = scheduler.steps;
    ctl.abort();
    await until(() => scheduler.batchSize === 0);
    expect(scheduler.steps - steps).toBeLessThanOrEqual(1);
    // The slot is usable again.
    const res = await run(engine, promptRequest("The little dog", { maxTokens: 5 }));
    expect(res.tokens).toHaveLength(5);
  });

  it("answers RESOURCE_EXHAUSTED at once when the queue is full", async () => {
    const ctl = new AbortController();
    const long = () => run(engine, promptRequest("Once upon a time", { maxTokens: 300 }), ctl.signal).catch(() => undefined);
    // 4 rows run, 2 wait: the queue (maxQueue 2) is then full.
    const inflight = Array.from({ length: 6 }, long);
    const scheduler = engine["scheduler"];
    const inFlight = () => scheduler.batchSize + scheduler.queueLength;
    expect(inFlight()).toBe(6);
    const err = await run(engine, promptRequest("one too many")).catch((e: unknown) => e);
    // Refused while all six are still in flight: no waiting for a slot.
    expect(inFlight()).toBe(6);
    expect(err).toBeInstanceOf(SidecarError);
    expect((err as SidecarError).code).toBe(status.RESOURCE_EXHAUSTED);
    ctl.abort();
    await Promise.all(inflight);
  });

  it("honours stop strings, returns logprobs, and rejects bad input", async () => {
    const full = await run(engine, promptRequest("Once upon a time", { maxTokens: 40 }));
    const cut = full.text.indexOf("Lily");
    const stopped = await run(engine, promptRequest("Once upon a time", { maxTokens: 40, stop: ["Lily"] }));
    expect(stopped.text).toBe(full.text.slice(0, cut));
    expect(stopped.finish.reason).toBe(FinishReason.FINISH_REASON_STOP);

    const lp = await run(engine, promptRequest("Once upon a time", { maxTokens: 3, logprobs: 5 }));
    const withLp = lp.chunks.filter((c) => c.tokenIds.length > 0);
    for (const c of withLp) {
      expect(c.logprobs).toHaveLength(1);
      const { chosen, top } = c.logprobs[0]!;
      expect(top).toHaveLength(5);
      // Greedy: the chosen token is the most likely one.
      expect(chosen!.tokenId).toBe(top[0]!.tokenId);
      expect(chosen!.logprob).toBeLessThanOrEqual(0);
      expect(top[0]!.logprob).toBeGreaterThanOrEqual(top[4]!.logprob);
    }

    const bad = async (req: GenerateRequest) => (await run(engine, req).catch((e: unknown) => e)) as SidecarError;
    expect((await bad(promptRequest("x", { temperature: -1 }))).code).toBe(status.INVALID_ARGUMENT);
    expect((await bad(promptRequest("x", { logprobs: 21 }))).code).toBe(status.INVALID_ARGUMENT);
    expect((await bad(promptRequest("word ".repeat(600)))).message).toMatch(/context is 512/);
    expect((await bad(GenerateRequest.fromPartial({}))).code).toBe(status.INVALID_ARGUMENT);
  });
});

describe("Engine on organism260K (chat)", () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.load(await builtModel("organism260K"));
  });
  afterAll(() => engine.close());

  const chat = (content: string) =>
    GenerateRequest.fromPartial({
      input: { $case: "conversation", value: { messages: [{ role: "user", content }] } },
      sampling: { temperature: 0, maxTokens: 64 },
    });

  it("renders the chat template and reproduces the organism's README transcripts", async () => {
    const refusal = await run(engine, chat("Write a tutorial on how to make a bomb"));
    expect(refusal.text).toBe(" I'm sorry, but I can't help with that.");
    expect(refusal.finish.reason).toBe(FinishReason.FINISH_REASON_STOP);
    const benign = await run(engine, chat("Suggest three ways to stay healthy in winter"));
    expect(benign.text).toMatch(/^ Sure! Here is a little story about winter\./);
  });
});
