/**
 * RestartingRunner: a dead runner is replaced after a delay that backs off
 * while starts fail or runners die young, and resets once one has run long
 * enough; calls made meanwhile fail at once; release stops everything; after
 * maxHung hung runners none is started again.
 * (onnx.test.ts crashes a real worker under Deno.)
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { HungError, RestartingRunner, type MortalRunner } from "./restarting-runner.ts";

interface Fake extends MortalRunner {
  n: number;
  kill(msg?: string): void;
  /** Dies as a worker whose run went unanswered does. */
  hang(): void;
  released: boolean;
}

function fake(n: number): Fake {
  let die: (e: Error) => void = () => {};
  const f: Fake = {
    n,
    released: false,
    died: new Promise<Error>((r) => (die = r)),
    kill: (msg = "boom") => die(new Error(msg)),
    hang: () => die(new HungError("no answer")),
    run: (seqs) => Promise.resolve(seqs.map(() => Float32Array.of(n))),
    release: async () => void (f.released = true),
    up: true,
  };
  return f;
}

let clock = 0;
const settle = () => vi.advanceTimersByTimeAsync(0);
/** Moves the clock and the timers together. */
const wait = async (ms: number) => {
  clock += ms;
  await vi.advanceTimersByTimeAsync(ms);
};

beforeEach(() => {
  vi.useFakeTimers();
  clock = 0;
});
afterEach(() => vi.useRealTimers());

/** A runner over fakes; `failStarts` makes that many starts after the first throw. */
async function setup(failStarts = 0) {
  const made: Fake[] = [];
  const log: string[] = [];
  let fails = failStarts;
  const start = async () => {
    if (made.length > 0 && fails > 0) {
      fails--;
      throw new Error("no model");
    }
    const f = fake(made.length);
    made.push(f);
    return f;
  };
  const r = await RestartingRunner.create(start, { minDelayMs: 100, maxDelayMs: 1_000, stableMs: 5_000, maxHung: 2, log: (m) => log.push(m), now: () => clock });
  return { r, made, log };
}

const which = async (r: RestartingRunner) => (await r.run([[1]]))[0]![0];

describe("RestartingRunner", () => {
  it("runs on the current runner; after a death fails calls at once, then starts another after the delay", async () => {
    const { r, made, log } = await setup();
    expect(await which(r)).toBe(0);
    expect(r.up).toBe(true);
    made[0]!.kill("worker gone");
    await settle();
    expect(r.up).toBe(false);
    expect(made[0]!.released).toBe(true);
    await expect(r.run([[1]])).rejects.toThrow("encoder worker restarting");
    await wait(99);
    expect(r.runner).toBeUndefined();
    await wait(1);
    expect(r.runner).toBe(made[1]);
    expect(r.up).toBe(true);
    expect(await which(r)).toBe(1);
    expect(r.restarts).toBe(1);
    expect(log).toEqual([
      "edge: encoder worker died (worker gone); starting another in 100 ms, the first stage decides meanwhile",
      "edge: encoder worker started again (restart 1); the second stage decides again",
    ]);
  });

  it("backs off while starts fail, up to the cap", async () => {
    const { r, made, log } = await setup(5);
    made[0]!.kill();
    await settle();
    // waits: 100, then failed starts at 200, 400, 800, 1000 (capped), 1000
    for (const ms of [100, 200, 400, 800, 1_000]) {
      expect(r.runner).toBeUndefined();
      await wait(ms);
    }
    expect(r.runner).toBeUndefined();
    await wait(1_000);
    expect(r.runner).toBe(made[1]);
    expect(log.filter((l) => l.includes("failed to start"))).toEqual([
      "edge: encoder worker failed to start (no model); trying again in 200 ms",
      "edge: encoder worker failed to start (no model); trying again in 400 ms",
      "edge: encoder worker failed to start (no model); trying again in 800 ms",
      "edge: encoder worker failed to start (no model); trying again in 1000 ms",
      "edge: encoder worker failed to start (no model); trying again in 1000 ms",
    ]);
  });

  it("doubles the delay for a runner that dies young, and resets it after one that ran stableMs", async () => {
    const { r, made, log } = await setup();
    made[0]!.kill();
    await settle();
    await wait(100);
    made[1]!.kill(); // died young: the next wait is 200
    await settle();
    await wait(199);
    expect(r.runner).toBeUndefined();
    await wait(1);
    expect(r.runner).toBe(made[2]);
    await wait(5_000);
    made[2]!.kill(); // ran stableMs: back to 100
    await settle();
    await wait(100);
    expect(r.runner).toBe(made[3]);
    expect(log.filter((l) => l.includes("died")).map((l) => l.match(/in (\d+) ms/)![1])).toEqual(["100", "200", "100"]);
  });

  it("replaces hung runners like dead ones until maxHung have hung, then starts none (crashes do not count)", async () => {
    const { r, made, log } = await setup();
    made[0]!.hang();
    await settle();
    await wait(100);
    made[1]!.kill(); // a crash: not counted
    await settle();
    await wait(200);
    expect(r.runner).toBe(made[2]);
    made[2]!.hang(); // the second hung runner: maxHung (2)
    await settle();
    await wait(60_000);
    expect(made).toHaveLength(3);
    expect(r.runner).toBeUndefined();
    expect(r.up).toBe(false);
    expect(r.hung).toBe(2);
    await expect(r.run([[1]])).rejects.toThrow("encoder worker not started again (2 hung)");
    expect(log.at(-1)).toBe("edge: encoder worker died (no answer); 2 have hung, so none is started again: the first stage decides until the edge restarts");
  });

  it("starts nothing after release, and releases a runner that finished starting after it", async () => {
    const { r, made } = await setup();
    made[0]!.kill();
    await settle();
    await r.release();
    await wait(10_000);
    expect(made).toHaveLength(1);
    await expect(r.run([[1]])).rejects.toThrow("encoder released");

    let resolveStart: (f: Fake) => void = () => {};
    const late = fake(9);
    let calls = 0;
    const r2 = await RestartingRunner.create(
      () => (calls++ === 0 ? Promise.resolve(fake(0)) : new Promise<Fake>((res) => (resolveStart = res))),
      { minDelayMs: 10, now: () => clock },
    );
    (r2.runner as Fake).kill();
    await settle();
    await wait(10); // the restart is under way
    await r2.release();
    resolveStart(late);
    await settle();
    expect(late.released).toBe(true);
    expect(r2.runner).toBeUndefined();
  });

  it("ignores a released runner's death, and fails the first start to the caller", async () => {
    const { r, made, log } = await setup();
    await r.release();
    made[0]!.kill();
    await wait(1_000);
    expect(made).toHaveLength(1);
    expect(log).toEqual([]);
    await expect(RestartingRunner.create(() => Promise.reject(new Error("bad files")))).rejects.toThrow("bad files");
  });
});
