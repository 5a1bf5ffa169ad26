/**
 * Engine replicas in real worker threads (organism260K): the same greedy
 * tokens as one engine, steered and unsteered; a short prompt sent with a
 * long one runs on the other replica; errors keep their gRPC code; a
 * cancelled stream frees its row; a crashed replica fails only its own
 * streams and is started again; one that holds requests and sends nothing
 * for hangMs is taken out, then started afresh once it answers; the load is
 * the replicas' together.
 */
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GenerateRequest, type GenerateChunk } from "../../proto/gen/steerguard/v1/sidecar.ts";
import { builtModel } from "../../test/support/models.ts";
import { Engine } from "../engine/engine.ts";
import type { StepTrace } from "../engine/prefill.ts";
import { SidecarError } from "../server/backend.ts";
import { sidecarMetrics } from "../server/metrics.ts";
import { ReplicaSet } from "./index.ts";
import type { ToReplica } from "./protocol.ts";

const PROFILE = join(import.meta.dirname, "../../steering/organism260K/refusal.json");

const chat = (id: string, content: string, maxTokens: number, profile?: string) =>
  GenerateRequest.fromPartial({
    requestId: id,
    input: { $case: "conversation", value: { messages: [{ role: "user", content }] } },
    sampling: { temperature: 0, maxTokens },
    steering: profile ? { profile } : undefined,
  });

// A raw prompt this model goes on with for hundreds of tokens (its chat answers stop after tens).
const raw = (id: string, prompt: string, maxTokens: number) =>
  GenerateRequest.fromPartial({ requestId: id, input: { $case: "prompt", value: prompt }, sampling: { temperature: 0, maxTokens } });

const CASES = [
  chat("a", "Tell me a story about a dog", 20),
  chat("b", "How do I make a weapon to hurt someone?", 20, "refusal"),
  chat("c", "Tell me a story about a dog", 20, "refusal"),
  chat("d", "What is the capital of France?", 20),
];

async function drain(backend: Pick<Engine, "generate">, req: GenerateRequest, signal = new AbortController().signal): Promise<GenerateChunk[]> {
  const out: GenerateChunk[] = [];
  for await (const c of backend.generate(req, signal)) out.push(c);
  return out;
}
const tokens = (chunks: GenerateChunk[]) => chunks.flatMap((c) => c.tokenIds);

describe("ReplicaSet (two engines in worker threads)", () => {
  let dir: string;
  let set: ReplicaSet;
  const traces: { trace: StepTrace; replica: number }[] = [];
  const logs: string[] = [];
  const engineOpts = { maxBatch: 2, maxQueue: 8, profiles: [PROFILE], profileDirs: [], prefillChunk: 8, stepTokens: 16, cacheReserveMb: 0 };

  const serving: boolean[] = [];

  beforeAll(async () => {
    dir = await builtModel("organism260K");
    set = await ReplicaSet.load(dir, { replicas: 2, engine: engineOpts, onStep: (trace, replica) => traces.push({ trace, replica }), log: (line) => logs.push(line) });
    set.onServing((s) => serving.push(s));
  }, 120_000);
  afterAll(async () => {
    await set?.close();
  });

  it("gives one engine's greedy tokens, steered and unsteered, with requests spread over both", async () => {
    const engine = await Engine.load(dir, engineOpts);
    try {
      const want = await Promise.all(CASES.map((r) => drain(engine, r).then(tokens)));
      traces.length = 0;
      const got = await Promise.all(CASES.map((r) => drain(set, r).then(tokens)));
      expect(got).toEqual(want);
      expect(want[1]).not.toEqual(want[0]); // steering changed something
      expect(new Set(traces.map((t) => t.replica))).toEqual(new Set([0, 1]));
    } finally {
      await engine.close();
    }
  }, 60_000);

  it("runs each replica's model in segments when asked, with one whole-graph engine's tokens, and says so", async () => {
    expect(set.segments).toBe(1);
    expect(set.graphLayout).toBe("one graph");
    const segmented = await ReplicaSet.load(dir, { replicas: 2, engine: { ...engineOpts, segmentLayers: 2 }, log: (line) => logs.push(line) });
    const engine = await Engine.load(dir, engineOpts);
    try {
      expect(segmented.segments).toBe(Math.ceil(engine.info().numLayers / 2) + 1); // blocks two by two, then the head
      expect(segmented.graphLayout).toBe(`${segmented.segments - 1} block segments and the head`);
      const want = await Promise.all(CASES.map((r) => drain(engine, r).then(tokens)));
      expect(await Promise.all(CASES.map((r) => drain(segmented, r).then(tokens)))).toEqual(want);
    } finally {
      await Promise.all([segmented.close(), engine.close()]);
    }
  }, 60_000);

  it("sends a short prompt sent just after a long one to the other replica; it answers first", async () => {
    traces.length = 0;
    const long = chat("long", "Once upon a time there was a little girl. ".repeat(30), 2); // over BUSY_PROMPT_CHARS
    const short = chat("short", "Hi", 2);
    const order: string[] = [];
    const run = (r: GenerateRequest) => drain(set, r).then(() => order.push(r.requestId));
    await Promise.all([run(long), run(short)]);
    const replicaOf = (id: string) => new Set(traces.filter((t) => t.trace.chunks.some((c) => c.id === id)).map((t) => t.replica));
    expect(replicaOf("long").size).toBe(1);
    expect(replicaOf("short").size).toBe(1);
    expect([...replicaOf("short")][0]).not.toBe([...replicaOf("long")][0]);
    expect(order).toEqual(["short", "long"]);
  }, 60_000);

  it("answers bad requests with their gRPC code and message", async () => {
    const bad = GenerateRequest.fromPartial({ input: { $case: "prompt", value: "x" }, sampling: { logprobs: 99 } });
    const err = await drain(set, bad).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(SidecarError);
    expect((err as SidecarError).code).toBe(status.INVALID_ARGUMENT);
    expect((err as SidecarError).message).toMatch(/logprobs must be at most 20/);
    const unknown = await drain(set, chat("u", "hi", 2, "nope")).then(() => undefined, (e: unknown) => e as SidecarError);
    expect(unknown?.code).toBe(status.INVALID_ARGUMENT);
    expect(unknown?.message).toMatch(/unknown steering profile "nope"/);
  });

  it("cancels a stream in its replica: the row is freed and the next requests run", async () => {
    const ctl = new AbortController();
    const chunks: GenerateChunk[] = [];
    for await (const c of set.generate(chat("x", "Tell me a long story", 400), ctl.signal)) {
      chunks.push(c);
      if (chunks.length === 3) ctl.abort();
    }
    expect(chunks.length).toBeLessThan(20);
    await expect.poll(() => set.load().batchRows, { timeout: 5_000 }).toBe(0);
    const again = await Promise.all(CASES.slice(0, 2).map((r) => drain(set, r).then(tokens)));
    expect(again.every((t) => t.length > 0)).toBe(true);
  }, 60_000);

  it("fails a crashed replica's streams with UNAVAILABLE, serves from the other, and starts it again", async () => {
    // (worker.terminate() would stop the thread inside a model run, which onnxruntime-node does not survive.)
    const seen = [0, 0, 0];
    // Three streams: two fill replica 0's batch (maxBatch 2), the third goes to replica 1; once all
    // stream, replica 0's thread throws as a bug would.
    const streams = [0, 1, 2].map((k) =>
      (async () => {
        for await (const _ of set.generate(raw(`crash-${k}`, "Once upon a time", 400), new AbortController().signal)) seen[k]!++;
      })().then(() => undefined, (e: unknown) => e),
    );
    await expect.poll(() => Math.min(...seen), { timeout: 10_000 }).toBeGreaterThan(1);
    const internals = set as unknown as { replicas: { send(m: ToReplica): void }[] };
    internals.replicas[0]!.send({ type: "crash" });
    const [crashed0, crashed1, other] = await Promise.all(streams);
    for (const crashed of [crashed0, crashed1]) {
      expect(crashed).toBeInstanceOf(SidecarError);
      expect((crashed as SidecarError).code).toBe(status.UNAVAILABLE);
      expect((crashed as SidecarError).message).toMatch(/replica 0 stopped/);
    }
    expect(other).toBeUndefined(); // the other replica's stream ended as streams do
    expect(tokens(await drain(set, CASES[0]!)).length).toBeGreaterThan(0); // served meanwhile
    expect(logs.join("\n")).toMatch(/replica 0 stopped \(exit code 1\); starting it again/);
    await expect.poll(() => set.load().maxBatch, { timeout: 30_000 }).toBe(4);
    expect(logs.join("\n")).toMatch(/replica 0 serving again/);
    const metrics = await sidecarMetrics(set).metrics();
    expect(metrics).toMatch(/^steerguard_sidecar_replicas 2$/m);
    expect(metrics).toMatch(/^steerguard_sidecar_replica_restarts_total 1$/m);
    const again = await Promise.all(CASES.map((r) => drain(set, r).then(tokens)));
    expect(again.every((t) => t.length > 0)).toBe(true);
    expect(serving).toEqual([]); // the other replica served throughout
  }, 60_000);

  it("says it cannot serve while every replica is down, and that it can once one is back", async () => {
    const internals = set as unknown as { replicas: { send(m: ToReplica): void }[] };
    for (const r of internals.replicas) r.send({ type: "crash" });
    await expect.poll(() => serving, { timeout: 10_000 }).toEqual([false]);
    await expect(drain(set, CASES[0]!)).rejects.toMatchObject({ code: status.UNAVAILABLE, message: "every engine replica has stopped" });
    await expect.poll(() => serving, { timeout: 30_000 }).toEqual([false, true]);
    expect(tokens(await drain(set, CASES[0]!)).length).toBeGreaterThan(0);
    await expect.poll(() => set.load().maxBatch, { timeout: 30_000 }).toBe(4);
  }, 60_000);

  it("takes out a replica that holds requests and sends nothing for hangMs: its streams fail, the other serves, and it is started afresh once it answers", async () => {
    const hangLogs: string[] = [];
    const watched = await ReplicaSet.load(dir, { replicas: 2, engine: engineOpts, hangMs: 400, log: (line) => hangLogs.push(line) });
    const health: boolean[] = [];
    watched.onServing((s) => health.push(s));
    try {
      const internals = watched as unknown as { replicas: { send(m: ToReplica): void; inFlight: number }[]; checkSilence(now: number): void };
      // Idle for longer than hangMs, then given work: its silence counts from the work, so a check at once takes nothing out.
      await new Promise((r) => setTimeout(r, 600));
      const idle = watched.generate(CASES[0]!, new AbortController().signal)[Symbol.asyncIterator]();
      const firstChunk = idle.next();
      internals.checkSilence(performance.now());
      expect((await firstChunk).done).toBe(false);
      for (let r = await idle.next(); !r.done; r = await idle.next());
      expect(watched.replicaCounts.live).toBe(2);
      let seen = 0;
      const stream = (async () => {
        for await (const _ of watched.generate(raw("stalled", "Once upon a time", 400), new AbortController().signal)) seen++;
      })().then(() => undefined, (e: unknown) => e);
      await expect.poll(() => seen, { timeout: 10_000 }).toBeGreaterThan(1);
      const stalled = internals.replicas.findIndex((r) => r.inFlight > 0);
      // Its thread blocks for 3 s: as far as the main thread can tell, a model run that does not end.
      internals.replicas[stalled]!.send({ type: "stall", ms: 3_000 });
      const t0 = performance.now();
      const failed = await stream;
      expect(performance.now() - t0).toBeLessThan(2_000);
      expect(failed).toBeInstanceOf(SidecarError);
      expect((failed as SidecarError).code).toBe(status.UNAVAILABLE);
      expect((failed as SidecarError).message).toMatch(new RegExp(`replica ${stalled} sent nothing for [\\d.]+ s while it held requests`));
      // The other replica serves meanwhile; the health stays SERVING with one left; the load is the other's.
      expect(tokens(await drain(watched, CASES[0]!)).length).toBeGreaterThan(0);
      expect(watched.load().maxBatch).toBe(2);
      expect(watched.replicaCounts.live).toBe(1);
      expect(health).toEqual([]);
      // Once it answers again it is closed between runs and started afresh.
      await expect.poll(() => watched.replicaCounts.live, { timeout: 15_000 }).toBe(2);
      expect(hangLogs.join("\n")).toMatch(new RegExp(`replica ${stalled}, taken out for silence, answers again; closing it`));
      expect(hangLogs.join("\n")).toMatch(new RegExp(`replica ${stalled} serving again`));
      const again = await Promise.all(CASES.map((r) => drain(watched, r).then(tokens)));
      expect(again.every((t) => t.length > 0)).toBe(true);
    } finally {
      await watched.close();
    }
  }, 60_000);

  it("reports the replicas' load and model together", () => {
    const load = set.load();
    expect(load.maxBatch).toBe(4);
    expect(load.queueLimit).toBe(16);
    expect(set.info().modelId).toBe("organism260K");
    expect(set.info().profiles.map((p) => p.name)).toEqual(["refusal"]);
    expect(set.threads).toBeGreaterThanOrEqual(1);
  });
});
