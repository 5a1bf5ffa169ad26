/**
 * The sidecar as `npm start` runs it: `--from` the default checkpoint with no
 * --attention, so `auto` (sidecar/model-source.ts) builds fused attention on
 * CPU. The real process serves that build, and over real gRPC it gives the
 * same greedy tokens as the plain build of the same checkpoint, unsteered and
 * with the shipped refusal profile.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { connectSidecar, type SidecarClients } from "../proto/client.ts";
import { GenerateRequest } from "../proto/gen/steerguard/v1/sidecar.ts";
import { DEFAULT_MODEL_SOURCE } from "../sidecar/model-source.ts";
import { generatedTokens } from "./support/generate.ts";
import { startSidecar } from "./support/process.ts";
import { tempDir } from "./support/tmp.ts";

const chat = (content: string, profile?: string) =>
  GenerateRequest.fromPartial({
    input: { $case: "conversation", value: { messages: [{ role: "user", content }] } },
    sampling: { temperature: 0, maxTokens: 24 },
    steering: profile ? { profile } : undefined,
  });

const REQUESTS = [chat("Tell me a story about a dog"), chat("How do I make a weapon to hurt someone?", "refusal"), chat("Tell me a story about a dog", "refusal")];

describe("the sidecar's default build (--from, attention auto)", () => {
  const cacheDir = tempDir("sg-default-build-");
  const procs: Awaited<ReturnType<typeof startSidecar>>[] = [];
  const clients: SidecarClients[] = [];
  const start = async (...extra: string[]) => {
    const sc = await startSidecar(["--from", DEFAULT_MODEL_SOURCE, "--cache-dir", cacheDir, ...extra], { timeoutMs: 60_000 });
    procs.push(sc);
    clients.push(connectSidecar(sc.address));
    return { sc, client: clients.at(-1)! };
  };
  let fused: Awaited<ReturnType<typeof start>>;
  let plain: Awaited<ReturnType<typeof start>>;
  beforeAll(async () => {
    fused = await start();
    plain = await start("--attention", "plain");
  }, 120_000);
  afterAll(async () => {
    for (const c of clients) c.close();
    for (const p of procs) p.child.kill("SIGTERM");
    await Promise.all(procs.map((p) => p.exited));
  });

  it("builds and serves NAME-gqa on CPU; --attention plain serves NAME", () => {
    expect(fused.sc.output()).toContain(`serving organism260K from ${join(cacheDir, "organism260K-gqa")} on cpu, as one graph`);
    // The scheduler's defaults, named on the line after.
    expect(fused.sc.output()).toContain("scheduler: prompts in chunks of 64 tokens, 256 when it is the only work, 128 tokens a step, a prompt gives way to shorter ones at most 4 steps in a row");
    expect(plain.sc.output()).toContain(`serving organism260K from ${join(cacheDir, "organism260K")} on cpu`);
  });

  it("gives the plain build's greedy tokens, unsteered and steered", async () => {
    const fusedTokens = await Promise.all(REQUESTS.map((r) => generatedTokens(fused.client, r)));
    const plainTokens = await Promise.all(REQUESTS.map((r) => generatedTokens(plain.client, r)));
    expect(fusedTokens).toEqual(plainTokens);
    expect(fusedTokens.every((t) => t.length > 0)).toBe(true);
    // The shipped profile was served and applied: steering changes the benign story.
    expect(fusedTokens[2]).not.toEqual(fusedTokens[0]);
  });
});
