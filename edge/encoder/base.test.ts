import { describe, expect, it } from "vitest";
import { Encoder } from "./base.ts";
import type { SentencePieceTokenizer } from "./tokenizer.ts";

/** An encoder whose model run takes `ms` milliseconds (a timer) and returns zeros; a text's ids are one per word. */
class SlowEncoder extends Encoder {
  constructor(private readonly ms: number) {
    super(undefined as unknown as SentencePieceTokenizer, {});
  }
  override tokens(text: string): number[] {
    return text.split(" ").map(() => 7);
  }
  protected run(seqs: number[][]): Promise<Float32Array[]> {
    return new Promise((r) => setTimeout(() => r(seqs.map(() => new Float32Array(512))), this.ms));
  }
}

describe("encoder base: calls one at a time, and the wait a new call would have", () => {
  it("counts the calls queued or running at their recent mean time, and is 0 once they settle", async () => {
    const enc = new SlowEncoder(30);
    expect(enc.expectedWaitMs()).toBe(0);
    const calls = [enc.embed("a"), enc.embed("a a"), enc.embed("a")];
    const first = enc.expectedWaitMs();
    expect(first).toBeGreaterThan(0); // 3 pending at the first guess of a call's time
    await Promise.all(calls);
    await new Promise((r) => setTimeout(r, 0)); // the queue's bookkeeping settles after the callers'
    expect(enc.expectedWaitMs()).toBe(0);
    // Three calls of ~30 ms moved the mean up from its first guess: three more pending now weigh more.
    const again = [enc.embed("a"), enc.embed("a"), enc.embed("a")];
    expect(enc.expectedWaitMs()).toBeGreaterThan(first);
    await Promise.all(again);
  });

  it("runs calls one at a time, in order, and a failed call neither blocks the next nor stays counted", async () => {
    let running = 0;
    let most = 0;
    const order: number[] = [];
    class Tracked extends SlowEncoder {
      protected override async run(seqs: number[][]): Promise<Float32Array[]> {
        running++;
        most = Math.max(most, running);
        try {
          if (seqs[0]!.length > 2) throw new Error("boom");
          return await super.run(seqs);
        } finally {
          running--;
          order.push(seqs[0]!.length);
        }
      }
    }
    const enc = new Tracked(5);
    const results = await Promise.allSettled([enc.embed("a"), enc.embed("a a a a"), enc.embed("a a")]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(most).toBe(1);
    expect(order).toEqual([1, 4, 2]);
    await new Promise((r) => setTimeout(r, 0));
    expect(enc.expectedWaitMs()).toBe(0);
  });
});
