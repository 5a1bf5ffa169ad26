/**
 * Conditional steering through the real sidecar process over real gRPC, on
 * organism260K with its trained SAE (steering/organism260K/sae) and profiles
 * written here: Info reports which profiles carry a condition, Probe reads
 * the condition's value, a conditional Generate decides on that same value
 * (reported on its first chunk) and gives the steered tokens when it holds
 * and the unsteered ones when it fails; a profile without a condition and a
 * non-finite threshold are INVALID_ARGUMENT.
 */
import * as grpc from "@grpc/grpc-js";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { collectGenerate, connectSidecar, unary, type SidecarClients } from "../proto/client.ts";
import { GenerateRequest, ProbeRequest, type SteeringRequest } from "../proto/gen/steerguard/v1/sidecar.ts";
import { builtModel } from "./support/models.ts";
import { REPO_ROOT, startSidecar } from "./support/process.ts";
import { tempDir } from "./support/tmp.ts";

const collect = (c: SidecarClients, req: GenerateRequest) => collectGenerate(c.sidecar, req, 20_000);
const PROMPT = "Tell me a story about a cat";
const THRESHOLD = 0.25;

const chat = (steering?: Partial<SteeringRequest>) =>
  GenerateRequest.fromPartial({
    input: { $case: "conversation", value: { messages: [{ role: "user", content: PROMPT }] } },
    sampling: { temperature: 0, maxTokens: 24 },
    steering,
  });

describe("sidecar process with a conditional steering profile", () => {
  let sc: Awaited<ReturnType<typeof startSidecar>>;
  let clients: SidecarClients;
  beforeAll(async () => {
    const model = await builtModel("organism260K");
    const dir = tempDir("sg-cond-proc-");
    const base = { sae: join(REPO_ROOT, "steering/organism260K/sae"), layer: 3, positions: "generated", features: [{ index: 396, mode: "clamp", value: 4 }] };
    // Feature 865 is a condition-only feature (not steered).
    const condition = { features: [{ index: 396, weight: 1 }, { index: 865, weight: -1 }], threshold: THRESHOLD, description: "test condition" };
    writeFileSync(join(dir, "refusal-if.json"), JSON.stringify({ ...base, name: "refusal-if", condition }));
    writeFileSync(join(dir, "plain.json"), JSON.stringify({ ...base, name: "plain" }));
    sc = await startSidecar(["--model", model, "--profile-dir", dir]);
    clients = connectSidecar(sc.address);
  });
  afterAll(async () => {
    clients?.close();
    sc?.child.kill("SIGTERM");
    await sc?.exited;
  });

  it("reports the condition in Info and Probe, and a conditional Generate steers exactly when it holds", async () => {
    const info = await unary(clients.sidecar.info.bind(clients.sidecar), {}, 5_000);
    expect(info.profiles.map((p) => [p.name, p.hasCondition, p.conditionThreshold])).toEqual([["plain", false, 0], ["refusal-if", true, THRESHOLD]]);
    expect(sc.output()).toContain(`steering profile refusal-if: layer 3, 1 features, positions generated, condition on 2 features >= ${THRESHOLD}`);

    const probe = await unary(
      clients.sidecar.probe.bind(clients.sidecar),
      ProbeRequest.fromPartial({ input: { $case: "conversation", value: { messages: [{ role: "user", content: PROMPT }] } }, profile: "refusal-if" }),
      5_000,
    );
    const value = probe.condition!.value;
    expect(probe.condition).toEqual({ value, threshold: THRESHOLD, steer: value >= THRESHOLD });
    expect(probe.features.map((f) => f.index)).toEqual([396]);
    const noCond = await unary(clients.sidecar.probe.bind(clients.sidecar), ProbeRequest.fromPartial({ input: { $case: "prompt", value: PROMPT }, profile: "plain" }), 5_000);
    expect(noCond.condition).toBeUndefined();

    const margin = 0.01;
    const [plain, steered, holds, fails, asProfile] = await Promise.all([
      collect(clients, chat()),
      collect(clients, chat({ profile: "plain", strength: 1 })),
      collect(clients, chat({ profile: "refusal-if", conditional: true, conditionThreshold: value - margin })),
      collect(clients, chat({ profile: "refusal-if", conditional: true, conditionThreshold: value + margin })),
      collect(clients, chat({ profile: "refusal-if", conditional: true })),
    ]);
    for (const r of [plain, steered, holds, fails, asProfile]) expect(r.error).toBeUndefined();
    const tokens = (r: typeof plain) => r.chunks.flatMap((c) => c.tokenIds);
    // Steering changes this prompt's completion, so the comparisons below can tell the two apart.
    expect(tokens(steered)).not.toEqual(tokens(plain));
    expect(tokens(holds)).toEqual(tokens(steered));
    expect(tokens(fails)).toEqual(tokens(plain));
    expect(tokens(asProfile)).toEqual(probe.condition!.steer ? tokens(steered) : tokens(plain));
    // The first chunk carries the outcome: the value Probe read, the threshold as float32.
    expect(holds.chunks[0]!.condition).toEqual({ value, threshold: Math.fround(value - margin), steer: true });
    expect(fails.chunks[0]!.condition).toEqual({ value, threshold: Math.fround(value + margin), steer: false });
    expect(asProfile.chunks[0]!.condition).toEqual(probe.condition);
    for (const r of [holds, fails, asProfile]) expect(r.chunks.slice(1).every((c) => c.condition === undefined)).toBe(true);
    expect([plain, steered].every((r) => r.chunks.every((c) => c.condition === undefined))).toBe(true);
    expect([plain, steered, holds, fails].map((r) => r.chunks.at(-1)!.finish!.usage!.steeringApplied)).toEqual([false, true, true, false]);
  });

  it("refuses a conditional request for a profile without a condition, and a non-finite threshold", async () => {
    const noCond = await collect(clients, chat({ profile: "plain", conditional: true }));
    expect(noCond.error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(noCond.error?.details).toMatch(/steering profile "plain" has no condition/);
    for (const t of [NaN, Infinity]) {
      const bad = await collect(clients, chat({ profile: "refusal-if", conditional: true, conditionThreshold: t }));
      expect(bad.error?.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(bad.error?.details).toMatch(/condition_threshold must be a finite number/);
    }
  });
});
