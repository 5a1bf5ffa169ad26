/**
 * The chunk plan of a step: the budget is shared shortest-remaining first,
 * no prompt gets more than a chunk, a prompt that must go whole goes whole,
 * and prefill always progresses.
 */
import { describe, expect, it } from "vitest";
import type { Sequence } from "./sequence.ts";
import { mustPrefillWhole, PendingPrompt, planChunks } from "./prefill.ts";

const prompt = (id: string, length: number, done = 0, whole = false) => {
  const p = new PendingPrompt({ request: { id, promptIds: new Array<number>(length).fill(1) } } as unknown as Sequence, whole);
  p.done = done;
  return p;
};
const plan = (prompts: PendingPrompt[], budget: number, chunk: number, opened = false) =>
  planChunks(prompts, budget, chunk, opened).map((c) => [c.prompt.seq.request.id, c.tokens]);

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

describe("mustPrefillWhole", () => {
  it("is true only for length-dependent rotary frequencies past their original context", () => {
    expect(mustPrefillWhole(undefined, 10_000)).toBe(false);
    expect(mustPrefillWhole({ type: "llama3", originalContext: 8192 }, 100_000)).toBe(false);
    expect(mustPrefillWhole({ type: "dynamic", originalContext: 2048 }, 2048)).toBe(false);
    expect(mustPrefillWhole({ type: "dynamic", originalContext: 2048 }, 2049)).toBe(true);
    expect(mustPrefillWhole({ type: "longrope", originalContext: 4096 }, 5000)).toBe(true);
  });
});
