/**
 * Chunked prefill in the scheduler (prefill.ts), on stories260K, asserted on
 * the step structure (never on wall time): while a long prompt is admitted a
 * running stream gets a token every step, each step keeps to its token
 * budget, a short prompt sent after the long one gets its first token first,
 * a prompt of a few chunks runs its chunks without the long one's beside them
 * (bar one step in --prefill-yield + 1), a prompt that is the only work
 * takes bigger chunks (--idle-chunk), and every request gets the tokens it
 * gets alone. With chunking off the long prompt goes in one step.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GenerateRequest, type GenerateChunk } from "../../proto/gen/steerguard/v1/sidecar.ts";
import { builtModel } from "../../test/support/models.ts";
import { Engine, type EngineOptions } from "./engine.ts";
import type { OnnxDecoder } from "./decoder.ts";
import { DEFAULT_PREFILL_YIELD, type StepTrace } from "./prefill.ts";

const request = (id: string, prompt: string, maxTokens: number) =>
  GenerateRequest.fromPartial({ requestId: id, input: { $case: "prompt", value: prompt }, sampling: { temperature: 0, maxTokens } });

const STORY = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends. ";
const CHUNK = 16;
const BUDGET = 24;

/** Tokens of a stream, and the order in which first tokens arrived across streams. */
async function collect(engine: Engine, req: GenerateRequest, firsts: string[]): Promise<number[]> {
  const tokens: number[] = [];
  for await (const c of engine.generate(req, new AbortController().signal) as AsyncIterable<GenerateChunk>) {
    if (c.tokenIds.length && tokens.length === 0) firsts.push(req.requestId);
    tokens.push(...c.tokenIds);
  }
  return tokens;
}

/**
 * Sends the short prompt from inside the engine's next call of a decoder method once armed (the
 * decoder is the engine's own; wrapping its method is the one way to arrive at that moment
 * deterministically). `tokens()` gives its tokens once it was sent.
 */
function sendShortFrom(engine: Engine, method: "step" | "prefillChunk", firsts: string[]) {
  const decoder = (engine as unknown as { decoder: OnnxDecoder }).decoder;
  const original = decoder[method].bind(decoder) as (...args: unknown[]) => unknown;
  let armed = false;
  let short: Promise<number[]> | undefined;
  Object.assign(decoder, {
    [method]: (...args: unknown[]) => {
      if (armed && !short) short = collect(engine, request("short", "Tom", 8), firsts);
      return original(...args);
    },
  });
  return { arm: () => void (armed = true), tokens: () => short! };
}

/**
 * The short prompt (or `req`), sent at most once: from the first pause of a segmented run that `atPause` wraps
 * (StepInput.between), or at once by `now()`. `tokens()` gives its tokens once it was sent.
 */
function shortAtPause(engine: Engine, firsts: string[], req = request("short", "Tom", 8)) {
  let resolve!: (p: Promise<number[]>) => void;
  const sent = new Promise<Promise<number[]>>((r) => (resolve = r));
  let done = false;
  const now = () => void (done || ((done = true), resolve(collect(engine, req, firsts))));
  return {
    now,
    atPause: (between: () => Promise<void>) => () => (now(), between()),
    tokens: async () => await (await sent),
  };
}

/** A stream decoding (two tokens in, so not being prefilled); drain() reads it to its end. */
async function decodingStream(engine: Engine) {
  const stream = engine.generate(request("stream", "Lily", 60), new AbortController().signal)[Symbol.asyncIterator]();
  for (let i = 0; i < 2; i++) await stream.next();
  return {
    drain: async () => {
      for (let r = await stream.next(); !r.done; r = await stream.next());
    },
  };
}

describe("chunked prefill (stories260K)", () => {
  let model: string;
  const engines: Engine[] = [];
  const load = async (opts: EngineOptions) => {
    const e = await Engine.load(model, { maxBatch: 4, ...opts });
    engines.push(e);
    return e;
  };
  beforeAll(async () => {
    model = await builtModel("stories260K");
  });
  afterAll(async () => {
    for (const e of engines) await e.close();
  });

  /** An engine with the test's chunking, and the steps it ran (each also passed to `hook`). */
  async function traced(hook?: (step: StepTrace) => void, opts: EngineOptions = {}): Promise<{ engine: Engine; trace: StepTrace[] }> {
    const trace: StepTrace[] = [];
    const engine = await load({ prefillChunk: CHUNK, stepTokens: BUDGET, ...opts, onStep: (s) => (trace.push(s), hook?.(s)) });
    return { engine, trace };
  }

  /** Each request got exactly the tokens it gets alone, in an engine with chunking off. */
  async function expectAsAlone(got: [GenerateRequest, number[]][]) {
    const plain = await load({ prefillChunk: 0 });
    for (const [req, tokens] of got) expect(tokens).toEqual(await collect(plain, req, []));
  }

  /** A stream running, then a long prompt, then a short one; the steps they ran. */
  async function scenario(opts: EngineOptions) {
    const trace: StepTrace[] = [];
    const engine = await load({ ...opts, onStep: (s) => trace.push(s) });
    const firsts: string[] = [];
    const stream = engine.generate(request("stream", "Lily", 120), new AbortController().signal)[Symbol.asyncIterator]();
    const streamTokens: number[] = [];
    for (let i = 0; i < 2; i++) streamTokens.push(...(await stream.next()).value!.tokenIds);
    const long = collect(engine, request("long", STORY.repeat(12), 8), firsts);
    const short = collect(engine, request("short", "Tom", 8), firsts);
    for (let r = await stream.next(); !r.done; r = await stream.next()) streamTokens.push(...r.value.tokenIds);
    const [longTokens, shortTokens] = await Promise.all([long, short]);
    const promptLength = engine.tokenizer.encode(STORY.repeat(12)).length;
    return { engine, trace, firsts, promptLength, tokens: { stream: streamTokens, long: longTokens, short: shortTokens } };
  }

  it("keeps a running stream decoding every step while a long prompt is admitted, within the step budget", async () => {
    const { trace, firsts, promptLength, tokens, engine } = await scenario({ prefillChunk: CHUNK, stepTokens: BUDGET });
    expect(promptLength).toBeGreaterThan(10 * CHUNK);
    const longSteps = trace.filter((s) => s.chunks.some((c) => c.id === "long"));
    // Split into chunks of at most CHUNK tokens, one per step, covering the prompt in order.
    expect(longSteps.length).toBeGreaterThanOrEqual(Math.ceil(promptLength / CHUNK));
    const pieces = longSteps.map((s) => s.chunks.find((c) => c.id === "long")!);
    expect(pieces.every((c) => c.tokens <= CHUNK)).toBe(true);
    expect(pieces.reduce((n, c) => n + c.tokens, 0)).toBe(promptLength);
    // The stream was decoded in every one of those steps.
    expect(longSteps.every((s) => s.decodeRows >= 1)).toBe(true);
    for (const s of trace) expect(s.decodeRows + s.chunks.reduce((n, c) => n + c.tokens, 0)).toBeLessThanOrEqual(BUDGET);
    // The short prompt, sent after the long one, went in whole at the next step and got its first token first.
    const shortChunks = trace.flatMap((s) => s.chunks.filter((c) => c.id === "short"));
    expect(shortChunks).toHaveLength(1);
    expect(trace.findIndex((s) => s.chunks.some((c) => c.id === "short"))).toBeLessThanOrEqual(trace.indexOf(longSteps[1]!));
    expect(firsts).toEqual(["short", "long"]);
    // Each request got exactly the tokens it gets alone (with chunking off, in another engine).
    await expectAsAlone([
      [request("stream", "Lily", 120), tokens.stream],
      [request("long", STORY.repeat(12), 8), tokens.long],
      [request("short", "Tom", 8), tokens.short],
    ]);
    expect(engine.load().batchRows).toBe(0);
  });

  it.each([DEFAULT_PREFILL_YIELD, 1, 0])("runs a prompt of a few chunks sent with a long one in steps of its own; the long one goes first every yield + 1 steps (yield %i)", async (yieldSteps) => {
    const { engine, trace } = await traced(undefined, { prefillYield: yieldSteps });
    const stream = await decodingStream(engine);
    const firsts: string[] = [];
    // Both arrive together: the mid-sized prompt (several chunks) is planned first, shortest remaining first.
    const long = collect(engine, request("long", STORY.repeat(12), 8), firsts);
    const mid = collect(engine, request("mid", STORY.repeat(5), 8), firsts);
    const [longTokens, midTokens] = await Promise.all([long, mid]);
    await stream.drain();
    expect(engine.tokenizer.encode(STORY.repeat(5)).length).toBeGreaterThan((DEFAULT_PREFILL_YIELD + 3) * CHUNK);
    // The steps that fed the mid prompt's chunks before its last. Each kept the budget (the stream's
    // token, then chunks). The long prompt waited while the mid one was unfinished, yieldSteps steps
    // in a row, and then went first; with yield 0 the two shared every step, shortest first.
    const midSteps = trace.filter((s) => s.chunks.some((c) => c.id === "mid"));
    const before = midSteps.slice(0, -1);
    expect(before.length).toBeGreaterThan(DEFAULT_PREFILL_YIELD + 1);
    const rest = BUDGET - 1 - CHUNK;
    before.forEach((s, i) => {
      expect(s.decodeRows).toBe(1);
      const due = yieldSteps > 0 && (i + 1) % (yieldSteps + 1) === 0;
      const want = yieldSteps === 0 ? [["mid", CHUNK], ["long", rest]] : due ? [["long", CHUNK], ["mid", rest]] : [["mid", CHUNK]];
      expect(s.chunks.map((c) => [c.id, c.tokens]), `step ${i}`).toEqual(want);
    });
    expect(firsts).toEqual(["mid", "long"]);
    await expectAsAlone([[request("long", STORY.repeat(12), 8), longTokens], [request("mid", STORY.repeat(5), 8), midTokens]]);
  });

  it("feeds a prompt that arrives while a chunk runs in that same step, before the step's decode run", async () => {
    const { engine, trace } = await traced();
    // The short prompt is sent from inside the long prompt's first chunk run.
    const firsts: string[] = [];
    const short = sendShortFrom(engine, "prefillChunk", firsts);
    const stream = await decodingStream(engine);
    short.arm();
    const long = await collect(engine, request("long", STORY.repeat(12), 8), firsts);
    const shortTokens = await short.tokens();
    await stream.drain();
    const first = trace.find((s) => s.chunks.some((c) => c.id === "long" && c.start === 0))!;
    expect(first.chunks.map((c) => [c.id, c.start])).toEqual([["long", 0], ["short", 0]]);
    expect(first.decodeRows).toBe(1);
    expect(first.decodeRows + first.chunks.reduce((n, c) => n + c.tokens, 0)).toBeLessThanOrEqual(BUDGET);
    expect(firsts).toEqual(["short", "long"]);
    await expectAsAlone([[request("short", "Tom", 8), shortTokens], [request("long", STORY.repeat(12), 8), long]]);
  });

  it("with the graph in segments, runs a short prompt sent during a long prompt's chunk between two segments of that run", async () => {
    const { engine, trace } = await traced(undefined, { segmentLayers: 2 });
    const decoder = (engine as unknown as { decoder: OnnxDecoder }).decoder;
    expect(decoder.segments).toBe(4); // blocks 0-1, 2-3, 4 and the head
    const firsts: string[] = [];
    const short = shortAtPause(engine, firsts);
    // The short prompt is sent from the first pause of the long prompt's second chunk, after its first segment.
    const original = decoder.prefillChunk.bind(decoder);
    let longChunks = 0;
    decoder.prefillChunk = (ids, past, extra = {}) => {
      if (ids.length === CHUNK && ++longChunks === 2 && extra.between) extra = { ...extra, between: short.atPause(extra.between) };
      return original(ids, past, extra);
    };
    const stream = await decodingStream(engine);
    const long = await collect(engine, request("long", STORY.repeat(12), 8), firsts);
    const shortTokens = await short.tokens();
    await stream.drain();
    // It ran whole inside the long prompt's chunk, which is booked when its run ends.
    const step = trace.find((s) => s.chunks.some((c) => c.id === "short"))!;
    expect(step.chunks.map((c) => [c.id, c.start])).toEqual([["short", 0], ["long", CHUNK]]);
    expect(step.decodeRows + step.chunks.reduce((n, c) => n + c.tokens, 0)).toBeLessThanOrEqual(BUDGET);
    expect(firsts).toEqual(["short", "long"]);
    await expectAsAlone([[request("short", "Tom", 8), shortTokens], [request("long", STORY.repeat(12), 8), long]]);
  });

  it("with the graph in segments, runs a short prompt sent during a decode run between two segments of that run", async () => {
    const { engine, trace } = await traced(undefined, { segmentLayers: 2 });
    const decoder = (engine as unknown as { decoder: OnnxDecoder }).decoder;
    const firsts: string[] = [];
    const stream = await decodingStream(engine);
    const short = shortAtPause(engine, firsts);
    // Sent from the first pause of the next decode run; `during` is the index of that run's step.
    const original = decoder.step.bind(decoder);
    let during = -1;
    decoder.step = (input) => {
      if (during < 0) {
        during = trace.length;
        // (No pauses: sent before the run, so that the test fails on the step, not by timing out.)
        if (input.between) input = { ...input, between: short.atPause(input.between) };
        else short.now();
      }
      return original(input);
    };
    const shortTokens = await short.tokens();
    await stream.drain();
    // Without the pause it would go in the next step's prefill.
    expect(trace[during]!.decodeRows).toBe(1);
    expect(trace[during]!.chunks.map((c) => c.id)).toEqual(["short"]);
    expect(firsts).toEqual(["short"]);
    await expectAsAlone([[request("short", "Tom", 8), shortTokens]]);
  });

  it("gives a prompt that is the only work chunks of idleChunk, a newcomer runs between their segments, and chunks shrink while it decodes", async () => {
    const IDLE = 48;
    const { engine, trace } = await traced(undefined, { segmentLayers: 2, idleChunk: IDLE });
    const decoder = (engine as unknown as { decoder: OnnxDecoder }).decoder;
    const firsts: string[] = [];
    const short = shortAtPause(engine, firsts);
    // The short prompt is sent from the first pause of the long prompt's second chunk.
    const original = decoder.prefillChunk.bind(decoder);
    let longChunks = 0;
    decoder.prefillChunk = (ids, past, extra = {}) => {
      if (ids.length > 4 && ++longChunks === 2 && extra.between) extra = { ...extra, between: short.atPause(extra.between) };
      return original(ids, past, extra);
    };
    const long = await collect(engine, request("long", STORY.repeat(12), 8), firsts);
    const shortTokens = await short.tokens();
    const promptLength = engine.tokenizer.encode(STORY.repeat(12)).length;
    expect(promptLength).toBeGreaterThan(4 * IDLE);
    const pieces = trace.flatMap((s) => s.chunks.filter((c) => c.id === "long").map((c) => ({ ...c, decodeRows: s.decodeRows })));
    expect(pieces.reduce((n, c) => n + c.tokens, 0)).toBe(promptLength);
    // Alone: chunks of IDLE. The short prompt ran whole inside the second, between two of its segments.
    expect(pieces.slice(0, 2).map((c) => c.tokens)).toEqual([IDLE, IDLE]);
    const step = trace.find((s) => s.chunks.some((c) => c.id === "short"))!;
    expect(step.chunks.map((c) => [c.id, c.start])).toEqual([["short", 0], ["long", IDLE]]);
    // While the short one decodes, the long one's chunks are CHUNK again, within the budget; alone again, IDLE.
    const shared = pieces.filter((c) => c.decodeRows > 0);
    expect(shared.length).toBeGreaterThan(0);
    for (const c of shared) expect(c.tokens).toBeLessThanOrEqual(Math.min(CHUNK, BUDGET - c.decodeRows));
    const after = pieces.slice(pieces.indexOf(shared.at(-1)!) + 1);
    expect(after.length).toBeGreaterThan(0);
    expect(after.slice(0, -1).every((c) => c.tokens === IDLE)).toBe(true);
    expect(firsts).toEqual(["short", "long"]);
    await expectAsAlone([[request("short", "Tom", 8), shortTokens], [request("long", STORY.repeat(12), 8), long]]);
  });

  it("with no stream running, runs a newcomer of several chunks that fits in an idle chunk whole between two segments", async () => {
    const IDLE = 48;
    const MID = "Lily went to the park with her mom. She saw a big red ball and ran to get it.";
    const { engine, trace } = await traced(undefined, { segmentLayers: 2, idleChunk: IDLE });
    const midLength = engine.tokenizer.encode(MID).length;
    expect(midLength).toBeGreaterThan(CHUNK);
    expect(midLength).toBeLessThanOrEqual(IDLE);
    const decoder = (engine as unknown as { decoder: OnnxDecoder }).decoder;
    const firsts: string[] = [];
    const mid = shortAtPause(engine, firsts, request("mid", MID, 8));
    const original = decoder.prefillChunk.bind(decoder);
    let longChunks = 0;
    decoder.prefillChunk = (ids, past, extra = {}) => {
      if (ids.length === IDLE && ++longChunks === 2 && extra.between) extra = { ...extra, between: mid.atPause(extra.between) };
      return original(ids, past, extra);
    };
    const long = await collect(engine, request("long", STORY.repeat(12), 8), firsts);
    const midTokens = await mid.tokens();
    // Its whole prompt in one run, inside the long prompt's second idle chunk (over the step's budget: no stream waited).
    const step = trace.find((s) => s.chunks.some((c) => c.id === "mid"))!;
    expect(step.chunks.map((c) => [c.id, c.start, c.tokens])).toEqual([["mid", 0, midLength], ["long", IDLE, IDLE]]);
    expect(step.decodeRows).toBe(0);
    expect(firsts).toEqual(["mid", "long"]);
    await expectAsAlone([[request("mid", MID, 8), midTokens], [request("long", STORY.repeat(12), 8), long]]);
  });

  it("holds a long prompt out of the step that admitted it: a short one sent during that step's decode run goes first", async () => {
    const { engine, trace } = await traced();
    // The short prompt is sent from the first decode run after the long one was submitted: the run
    // of the step that admitted it (or, if it came while that run was being set up, of the next one).
    const firsts: string[] = [];
    const short = sendShortFrom(engine, "step", firsts);
    const stream = await decodingStream(engine);
    const long = collect(engine, request("long", STORY.repeat(12), 8), firsts);
    short.arm();
    const longTokens = await long;
    const shortTokens = await short.tokens();
    await stream.drain();
    // Every chunk in the order it ran: the short prompt's before the long one's first.
    const order = trace.flatMap((s) => s.chunks.map((c) => `${c.id}@${c.start}`)).filter((c) => c !== "stream@0");
    expect(order.indexOf("short@0")).toBeGreaterThanOrEqual(0);
    expect(order.indexOf("short@0")).toBeLessThan(order.indexOf("long@0"));
    expect(firsts).toEqual(["short", "long"]);
    await expectAsAlone([[request("short", "Tom", 8), shortTokens], [request("long", STORY.repeat(12), 8), longTokens]]);
  });

  // Turns of the event loop after a step ended at which a medium prompt (one chunk: never held) and
  // then a short one arrive. 0 / 2: the short one after the next step began (its admission ran a
  // turn earlier) and before its first run. 2 / 3: the short one in the turn after the one that
  // brought the medium prompt, which the scheduler takes as well, since that one brought a request.
  it.each([
    { medium: 0, short: 2, turns: "0 / 2" },
    { medium: 2, short: 3, turns: "2 / 3" },
  ])("plans prompts that arrive after a step began, before its first run, into that run, shortest first (turns $turns)", async (turns) => {
    let onStep: ((s: StepTrace) => void) | undefined;
    const { engine, trace } = await traced((s) => onStep?.(s));
    const MEDIUM = "Lily went to the park.";
    expect(engine.tokenizer.encode(MEDIUM).length).toBeLessThanOrEqual(CHUNK);
    const firsts: string[] = [];
    const stream = await decodingStream(engine);
    const after = (n: number, f: () => void): void => (n === 0 ? f() : void setImmediate(() => after(n - 1, f)));
    const sent = new Promise<[Promise<number[]>, Promise<number[]>]>((resolve) => {
      onStep = () => {
        onStep = undefined;
        let medium: Promise<number[]>;
        after(turns.medium, () => (medium = collect(engine, request("medium", MEDIUM, 8), firsts)));
        after(turns.short, () => resolve([medium, collect(engine, request("short", "Tom", 8), firsts)]));
      };
    });
    const [medium, short] = await sent;
    const [mediumTokens, shortTokens] = [await medium, await short];
    await stream.drain();
    const step = trace.find((s) => s.chunks.some((c) => c.id === "medium"))!;
    expect(step.chunks.map((c) => c.id)).toEqual(["short", "medium"]);
    expect(firsts).toEqual(["short", "medium"]);
    await expectAsAlone([[request("short", "Tom", 8), shortTokens], [request("medium", MEDIUM, 8), mediumTokens]]);
  });

  it("with chunking off, prefills the long prompt whole: the stream's next token waits for all of it", async () => {
    const { trace, promptLength } = await scenario({ prefillChunk: 0, stepTokens: 0 });
    const longSteps = trace.filter((s) => s.chunks.some((c) => c.id === "long"));
    expect(longSteps).toHaveLength(1);
    expect(longSteps[0]!.chunks.find((c) => c.id === "long")!.tokens).toBe(promptLength);
    expect(longSteps[0]!.decodeRows).toBe(1);
  });

  it("rejects a negative chunk, budget, yield or idle chunk", async () => {
    await expect(Engine.load(model, { prefillChunk: -1 })).rejects.toThrow(/prefillChunk must be a whole number >= 0/);
    await expect(Engine.load(model, { stepTokens: 1.5 })).rejects.toThrow(/stepTokens must be a whole number >= 0/);
    await expect(Engine.load(model, { prefillYield: -1 })).rejects.toThrow(/prefillYield must be a whole number >= 0/);
    await expect(Engine.load(model, { idleChunk: -2 })).rejects.toThrow(/idleChunk must be a whole number >= 0/);
  });
});
