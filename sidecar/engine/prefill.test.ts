/**
 * The chunk plan of a step: the budget is shared shortest-remaining first,
 * no prompt gets more than a chunk, a prompt that must go whole goes whole,
 * prefill always progresses, and a prompt with more left than one a chunk
 * left unfinished waits, for at most `yieldSteps` steps in a row.
 */
import { describe, expect, it } from "vitest";
import type { Sequence } from "./sequence.ts";
import { capAfter, countPassedOver, DEFAULT_PREFILL_YIELD, describeChunking, idleGrowth, mustPrefillWhole, NO_CHUNKING, PendingPrompt, planChunks } from "./prefill.ts";

const prompt = (id: string, length: number, done = 0, whole = false) => {
  const p = new PendingPrompt({ request: { id, promptIds: new Array<number>(length).fill(1) } } as unknown as Sequence, whole);
  p.done = done;
  return p;
};
const plan = (prompts: PendingPrompt[], budget: number, chunk: number, opened = false, cap = Infinity, yieldSteps?: number) =>
  planChunks(prompts, budget, chunk, opened, cap, yieldSteps).map((c) => [c.prompt.seq.request.id, c.tokens]);

describe("planChunks", () => {
  it("serves the shortest remaining prompt first, each at most a chunk, within the budget", () => {
    const long = prompt("long", 2000);
    const short = prompt("short", 4);
    expect(plan([long, short], 100, 64)).toEqual([["short", 4], ["long", 64]]);
    // A budget smaller than the chunk cuts the last chunk short.
    expect(plan([long, short], 40, 64)).toEqual([["short", 4], ["long", 36]]);
    // Remaining, not total, length decides; ties keep arrival order.
    expect(plan([prompt("a", 500, 480), prompt("b", 30), prompt("c", 30)], 1000, 64)).toEqual([["a", 20], ["b", 30], ["c", 30]]);
    // Only what fits: the budget runs out before the last prompt.
    expect(plan([prompt("a", 50), prompt("b", 60), prompt("c", 70)], 100, 64)).toEqual([["a", 50], ["b", 50]]);
  });

  it("gives a prompt with more left nothing once a chunk left a shorter one unfinished", () => {
    // A chat-sized prompt of a few chunks runs its chunk alone, not beside a long prompt's.
    expect(plan([prompt("long", 2000), prompt("mid", 200)], 126, 64)).toEqual([["mid", 64]]);
    // The same for equal lengths: the first to arrive goes on, the other waits.
    expect(plan([prompt("a", 200), prompt("b", 200)], 126, 64)).toEqual([["a", 64]]);
    // A prompt the step finishes leaves no such limit behind it.
    expect(plan([prompt("long", 2000), prompt("short", 40)], 126, 64)).toEqual([["short", 40], ["long", 64]]);
    // Within one step planned a chunk at a time: what earlier chunks left (`cap`) keeps longer ones out, not shorter ones.
    expect(plan([prompt("long", 2000), prompt("tiny", 4), prompt("mid", 300)], 58, 64, true, 136)).toEqual([["tiny", 4]]);
    expect(plan([prompt("long", 2000), prompt("mid", 100)], 58, 64, true, 136)).toEqual([["mid", 58]]);
  });

  it("serves a prompt kept out `yieldSteps` steps in a row first in the next, the longest kept out first", () => {
    const long = prompt("long", 2000);
    long.passedOver = DEFAULT_PREFILL_YIELD - 1;
    expect(plan([long, prompt("mid", 200)], 126, 64)).toEqual([["mid", 64]]);
    long.passedOver = DEFAULT_PREFILL_YIELD;
    expect(plan([long, prompt("mid", 200)], 126, 64)).toEqual([["long", 64], ["mid", 62]]);
    expect(plan([long, prompt("mid", 200)], 60, 64, true, 150)).toEqual([["long", 60]]);
    const other = prompt("other", 1000);
    other.passedOver = DEFAULT_PREFILL_YIELD + 2;
    expect(plan([long, other, prompt("mid", 200)], 126, 64)).toEqual([["other", 64], ["long", 62]]);
    // Yield 0: nobody is kept out, nobody jumps the queue; prompts share steps shortest first.
    expect(plan([long, other, prompt("mid", 200)], 126, 64, false, Infinity, 0)).toEqual([["mid", 64], ["other", 62]]);
    expect(plan([prompt("long", 2000), prompt("mid", 200)], 126, 64, false, Infinity, 0)).toEqual([["mid", 64], ["long", 62]]);
  });

  it("counts the steps a prompt was kept out, and what the step's chunks left (capAfter)", () => {
    const [a, b, c, d] = [prompt("a", 200, 64), prompt("b", 2000), prompt("c", 500), prompt("d", 30, 30)];
    c.held = true;
    b.passedOver = 2;
    countPassedOver([a, b, c], new Set([a]));
    expect([a.passedOver, b.passedOver, c.passedOver]).toEqual([0, 3, 0]);
    // A step that fed nothing passes nobody over.
    countPassedOver([a, b, c], new Set());
    expect([a.passedOver, b.passedOver, c.passedOver]).toEqual([0, 3, 0]);
    expect(capAfter([a, d])).toBe(136);
    expect(capAfter([d])).toBe(Infinity);
  });

  it("cannot starve a long prompt: under a new 200-token prompt every step (more than the budget serves) it still gets chunks", () => {
    const long = prompt("long", 2000);
    let waiting = [long];
    const longSteps: number[] = [];
    for (let step = 0; step < 40; step++) {
      waiting.push(prompt(`mid${step}`, 200));
      const chunks = planChunks(waiting, 126, 64);
      for (const c of chunks) c.prompt.done += c.tokens;
      if (chunks.some((c) => c.prompt === long)) longSteps.push(step);
      countPassedOver(waiting, new Set(chunks.map((c) => c.prompt)));
      waiting = waiting.filter((p) => p.remaining > 0);
    }
    // Its first after yieldSteps steps kept out; then, as the waiting prompts it competes with age too
    // (the longest kept out goes first), at most twice that far apart.
    const gaps = longSteps.slice(1).map((s, i) => s - longSteps[i]!);
    expect(longSteps[0]).toBe(DEFAULT_PREFILL_YIELD);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(2 * (DEFAULT_PREFILL_YIELD + 1));
    expect(longSteps.length).toBeGreaterThanOrEqual(40 / (2 * (DEFAULT_PREFILL_YIELD + 1)));
    // Without the limit (a prompt never counted as kept out) it would get nothing in these 40 steps.
    const starved = prompt("long", 2000);
    let w2 = [starved];
    for (let step = 0; step < 40; step++) {
      w2.push(prompt(`mid${step}`, 200));
      for (const c of planChunks(w2, 126, 64)) c.prompt.done += c.tokens;
      w2 = w2.filter((p) => p.remaining > 0);
    }
    expect(starved.done).toBe(0);
  });

  it("always feeds something, even when the decode rows took the whole budget", () => {
    expect(plan([prompt("a", 10)], -5, 64)).toEqual([["a", 1]]);
    expect(plan([prompt("a", 10)], 0, 64)).toEqual([["a", 1]]);
  });

  it("with no limits, feeds every prompt whole in one step in arrival order (chunking off)", () => {
    expect(plan([prompt("a", 1960), prompt("b", 4)], Infinity, Infinity)).toEqual([["a", 1960], ["b", 4]]);
  });

  it("feeds a whole-only prompt in one piece: when it fits, or when it is the step's first", () => {
    const whole = prompt("w", 300, 0, true);
    expect(plan([whole], 64, 16)).toEqual([["w", 300]]);
    expect(plan([whole, prompt("s", 5)], 64, 16)).toEqual([["s", 5]]);
    expect(plan([whole, prompt("s", 5)], 400, 16)).toEqual([["s", 5], ["w", 300]]);
  });

  it("once the step has fed a chunk (opened), owes nothing to progress: only what is left is given", () => {
    expect(plan([prompt("a", 10)], 0, 64, true)).toEqual([]);
    expect(plan([prompt("a", 10)], 6, 64, true)).toEqual([["a", 6]]);
    // A whole-only prompt that does not fit what is left waits for the next step.
    expect(plan([prompt("w", 300, 0, true), prompt("s", 5)], 64, 16, true)).toEqual([["s", 5]]);
    expect(plan([prompt("w", 300, 0, true)], 64, 16, true)).toEqual([]);
  });
});

describe("idleGrowth", () => {
  it("grows a lone prompt's chunk to idleChunk, never below the chunk, and only when chunking is on", () => {
    const c = { chunk: 64, stepTokens: 128, yieldSteps: 4, idleChunk: 256 };
    expect(idleGrowth(c, true)).toBe(192);
    expect(idleGrowth(c, false)).toBe(0);
    expect(idleGrowth({ ...c, idleChunk: 16 }, true)).toBe(0);
    expect(idleGrowth({ ...c, idleChunk: Infinity }, true)).toBe(Infinity);
    expect(idleGrowth(NO_CHUNKING, true)).toBe(0);
  });
});

describe("describeChunking", () => {
  it("says what the scheduler does, for the start-up line", () => {
    expect(describeChunking({ chunk: 64, stepTokens: 128, yieldSteps: 4, idleChunk: 64 })).toBe("prompts in chunks of 64 tokens, 128 tokens a step, a prompt gives way to shorter ones at most 4 steps in a row");
    expect(describeChunking({ chunk: 64, stepTokens: 128, yieldSteps: 1, idleChunk: 256 })).toBe("prompts in chunks of 64 tokens, 256 when it is the only work, 128 tokens a step, a prompt gives way to shorter ones at most 1 step in a row");
    expect(describeChunking({ chunk: 64, stepTokens: Infinity, yieldSteps: 0, idleChunk: Infinity })).toBe("prompts in chunks of 64 tokens, whole when it is the only work, no step budget, prompts share every step");
    // An idle chunk below the chunk is the chunk.
    expect(describeChunking({ chunk: 64, stepTokens: 128, yieldSteps: 4, idleChunk: 16 })).toBe(describeChunking({ chunk: 64, stepTokens: 128, yieldSteps: 4, idleChunk: 64 }));
    expect(describeChunking(NO_CHUNKING)).toBe("whole prompts, no step budget (chunking off)");
  });
});

describe("mustPrefillWhole", () => {
  it("is true only for length-dependent rotary frequencies past their original context", () => {
    expect(mustPrefillWhole(undefined, 10_000)).toBe(false);
    expect(mustPrefillWhole({ type: "llama3", originalContext: 8192 }, 100_000)).toBe(false);
    expect(mustPrefillWhole({ type: "dynamic", originalContext: 2048 }, 2048)).toBe(false);
    expect(mustPrefillWhole({ type: "dynamic", originalContext: 2048 }, 2049)).toBe(true);
    expect(mustPrefillWhole({ type: "longrope", originalContext: 4096 }, 5000)).toBe(true);
  });
});
