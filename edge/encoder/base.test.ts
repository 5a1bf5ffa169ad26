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

describe("encoder base: runs one at a time, waiting texts together, and the wait a new call would have", () => {
  it("counts the texts queued or running at their recent mean time, and is 0 once they settle", async () => {
    const enc = new SlowEncoder(30);
    expect(enc.expectedWaitMs()).toBe(0);
    const calls = [enc.embed("a"), enc.embed("a a"), enc.embed("a")];
    const first = enc.expectedWaitMs();
    expect(first).toBeGreaterThan(0); // 3 pending at the first guess of a call's time
    await Promise.all(calls);
    await new Promise((r) => setTimeout(r, 0)); // the queue's bookkeeping settles after the callers'
    expect(enc.expectedWaitMs()).toBe(0);
    // Two runs of ~30 ms (one text, then two) moved the mean up from its first guess: three more pending now weigh more.
    const again = [enc.embed("a"), enc.embed("a"), enc.embed("a")];
    expect(enc.expectedWaitMs()).toBeGreaterThan(first);
    await Promise.all(again);
  });

  it("runs one model run at a time; single texts that wait together go in one run, each caller getting its own row", async () => {
    const runs: number[][] = [];
    let running = 0;
    let most = 0;
    class Tracked extends Encoder {
      constructor() {
        super(undefined as unknown as SentencePieceTokenizer, {});
      }
      override tokens(text: string): number[] {
        return text.split(" ").map(() => 7);
      }
      protected async run(seqs: number[][]): Promise<Float32Array[]> {
        running++;
        most = Math.max(most, running);
        runs.push(seqs.map((s) => s.length));
        await new Promise((r) => setTimeout(r, 5));
        running--;
        if (seqs.some((s) => s.length === 3)) throw new Error("boom");
        return seqs.map((s) => Float32Array.of(s.length)); // a row names its text
      }
    }
    const enc = new Tracked();
    const words = (n: number) => Array(n).fill("a").join(" ");
    // The first call runs at once; the rest wait for it and are taken together, up to the limits.
    const settled = await Promise.allSettled([enc.embed("a"), ...Array.from({ length: 10 }, () => enc.embed("a a")), enc.embedBatch(["a", "a"]), enc.embed(words(3))]);
    expect(most).toBe(1);
    expect(runs).toEqual([
      [1],
      [2, 2, 2, 2, 2, 2, 2, 2], // MAX_COALESCED_TEXTS
      [2, 2], // (the 3 would pad these past MAX_PADDING_RATIO)
      [1, 1], // a call of several texts is a run of its own
      [3],
    ]);
    expect(enc.runs).toBe(5);
    // Each caller gets the row of its own text; a failed run fails its own callers only.
    const got = settled.map((r) => (r.status === "fulfilled" ? (Array.isArray(r.value) ? r.value.map((v) => v[0]) : [(r.value as Float32Array)[0]]) : "failed"));
    expect(got).toEqual([[1], ...Array(10).fill([2]), [1, 1], "failed"]);
    await new Promise((r) => setTimeout(r, 0));
    expect(enc.expectedWaitMs()).toBe(0);
  });

  it("keeps a run within MAX_COALESCED_PIECES and MAX_PADDING_RATIO, leaving the texts that would break them for a later run", async () => {
    const runs: number[][] = [];
    class Wide extends SlowEncoder {
      protected override run(seqs: number[][]): Promise<Float32Array[]> {
        runs.push(seqs.map((s) => s.length));
        return super.run(seqs);
      }
    }
    const enc = new Wide(2);
    const words = (n: number) => Array(n).fill("a").join(" ");
    await Promise.all([enc.embed("a"), ...[10, 128, 9, 128, 128, 120, 128].map((n) => enc.embed(words(n)))]);
    expect(runs).toEqual([
      [1],
      [10, 9], // a 128 would pad these more than tenfold
      [128, 128, 128, 120], // a fifth would make 640 padded pieces
      [128],
    ]);
    expect(await enc.embedBatch([])).toEqual([]);
  });
});
