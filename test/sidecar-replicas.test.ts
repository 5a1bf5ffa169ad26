/**
 * The real sidecar process with --replicas 2 (engines in worker threads) over
 * real gRPC: the same greedy tokens as one engine, steered and unsteered, for
 * requests sent at once; Info reports both replicas' rows; SIGTERM lets a
 * stream in flight finish, then the process exits 0.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { collectGenerate, connectSidecar, unary, type SidecarClients } from "../proto/client.ts";
import { FinishReason, GenerateRequest } from "../proto/gen/steerguard/v1/sidecar.ts";
import { generatedTokens } from "./support/generate.ts";
import { builtModel } from "./support/models.ts";
import { REPO_ROOT, startSidecar } from "./support/process.ts";

const PROFILE = join(REPO_ROOT, "steering/organism260K/refusal.json");

const chat = (content: string, maxTokens: number, profile?: string) =>
  GenerateRequest.fromPartial({
    input: { $case: "conversation", value: { messages: [{ role: "user", content }] } },
    sampling: { temperature: 0, maxTokens },
    steering: profile ? { profile } : undefined,
  });

const REQUESTS = [chat("Tell me a story about a dog", 24), chat("How do I make a weapon to hurt someone?", 24, "refusal"), chat("Tell me a story about a cat", 24, "refusal"), chat("Once upon a time", 24)];

describe("sidecar --replicas 2", () => {
  const procs: Awaited<ReturnType<typeof startSidecar>>[] = [];
  const clients: SidecarClients[] = [];
  const start = async (...extra: string[]) => {
    const sc = await startSidecar(["--model", await builtModel("organism260K"), "--profile", PROFILE, "--port", "0", "--max-batch", "2", ...extra], { timeoutMs: 60_000 });
    procs.push(sc);
    clients.push(connectSidecar(sc.address));
    return { sc, client: clients.at(-1)! };
  };
  let two: Awaited<ReturnType<typeof start>>;
  let one: Awaited<ReturnType<typeof start>>;
  beforeAll(async () => {
    [two, one] = await Promise.all([start("--replicas", "2"), start()]);
  }, 120_000);
  afterAll(async () => {
    for (const c of clients) c.close();
    for (const p of procs) p.child.kill("SIGKILL");
    await Promise.all(procs.map((p) => p.exited));
  });

  it("says so at start, and Info counts both replicas' rows", async () => {
    expect(two.sc.output()).toMatch(/serving organism260K from .* on cpu: 2 engine replicas, \d+ intra-op threads? each, as one graph/);
    expect(two.sc.output()).toContain("scheduler, each replica: prompts in chunks of");
    const info = await unary(two.client.sidecar.info.bind(two.client.sidecar), {}, 5_000);
    expect(info.load?.maxBatch).toBe(4);
    expect(info.profiles.map((p) => p.name)).toEqual(["refusal"]);
  });

  it("gives one engine's greedy tokens, steered and unsteered, sent at once", async () => {
    const got = await Promise.all(REQUESTS.map((r) => generatedTokens(two.client, r)));
    const want = await Promise.all(REQUESTS.map((r) => generatedTokens(one.client, r)));
    expect(got).toEqual(want);
    expect(got[0]!.length).toBeGreaterThan(0);
  }, 60_000);

  it("on SIGTERM lets a stream in flight finish, then exits 0", async () => {
    const stream = collectGenerate(two.client.sidecar, chat("Tell me a long story about a dragon", 300), 30_000);
    await new Promise((r) => setTimeout(r, 50));
    two.sc.child.kill("SIGTERM");
    const r = await stream;
    expect(r.error).toBeUndefined();
    expect(r.chunks.at(-1)?.finish?.reason).toBeOneOf([FinishReason.FINISH_REASON_LENGTH, FinishReason.FINISH_REASON_STOP]);
    expect(await two.sc.exited).toEqual({ code: 0, signal: null });
  }, 60_000);

  it("rejects --replicas 0 with exit code 2", async () => {
    await expect(startSidecar(["--no-model", "--replicas", "0"])).rejects.toThrow(/exited \(code 2.*--replicas must be an integer from 1 to 64/s);
  });
});
