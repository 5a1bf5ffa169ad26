/**
 * A conditional request whose profile the sidecars list without a condition
 * goes as a plain steered one (fail closed) instead of a 400 per in-band
 * prompt: the decision, then through the app in-process with a scripted
 * backend and with the real pool in front of a fake gRPC sidecar that
 * refuses such a request as the real one does.
 */
import { afterEach, describe, expect, it } from "vitest";
import { FinishReason, GenerateChunk, type GenerateRequest } from "../../proto/gen/steerguard/v1/sidecar.ts";
import { startFakeSidecar } from "../../test/support/fake-sidecar.ts";
import { parseConfig } from "../config/index.ts";
import { decide, defaultArm } from "../routing/index.ts";
import { noConditionWarning } from "../sidecar/condition-warnings.ts";
import { SidecarPool } from "../sidecar/index.ts";
import { conditionFallback, NO_CONDITION } from "./condition-fallback.ts";
import { ScriptedBackend, setup, sseData, streamOf } from "./testing.ts";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const jsonOf = async (r: Response): Promise<any> => r.json();

const banded = (steering: Record<string, unknown> = { profile: "refusal", strength: 2 }) => ({ steering, classifier: { threshold: 0.5, condition_band: { low: 0.3, high: 0.6 } } });
const chat = (extra: Record<string, unknown> = {}) => ({ model: "organism260K", messages: [{ role: "user", content: "a question" }], ...extra });
const lacking = (...profiles: string[]) => (p: string) => (profiles.includes(p) ? ["fake:1"] : []);

describe("conditionFallback", () => {
  const config = parseConfig(banded({ profile: "refusal", strength: 2, condition_threshold: 0.75 }));
  const at = (risk: number) => decide(config, "default", defaultArm(), risk, 0.5);

  it("sends steered, without the condition or its threshold, when a sidecar serves the profile without a condition", () => {
    expect(at(0.4).steering).toEqual({ profile: "refusal", strength: 2, conditional: true, condition_threshold: 0.75 });
    expect(conditionFallback(at(0.4), { withoutCondition: lacking("refusal") })).toEqual({ profile: "refusal", strength: 2 });
  });

  it("sends as decided when nothing says the profile lacks a condition, or the route is not conditional", () => {
    expect(conditionFallback(at(0.4), { withoutCondition: lacking("other") })).toBeNull();
    expect(conditionFallback(at(0.4), {})).toBeNull();
    for (const risk of [0.2, 0.7]) expect(conditionFallback(at(risk), { withoutCondition: lacking("refusal") })).toBeNull();
  });
});

/** A scripted sidecar that reports whether it steered, as the real one does. */
function steeringSidecar() {
  return new ScriptedBackend(async (req: GenerateRequest) =>
    streamOf([
      GenerateChunk.fromPartial({ text: "Steered", tokenIds: [1] }),
      GenerateChunk.fromPartial({ finish: { reason: FinishReason.FINISH_REASON_STOP, usage: { promptTokens: 3, completionTokens: 1, steeringApplied: !!req.steering } } }),
    ]),
  );
}

describe("conditional route on a profile without a condition", () => {
  it("answers steered, 200, with x-steerguard-condition: unavailable and the reason in the event", async () => {
    for (const stream of [false, true]) {
      const backend = steeringSidecar();
      backend.withoutCondition = lacking("refusal");
      const { post, events, metrics } = setup(banded(), { backend, risk: 0.45 });
      const res = await post(chat({ stream }));
      expect(res.status).toBe(200);
      expect(res.headers.get("x-steerguard-route")).toBe("conditional");
      expect(res.headers.get("x-steerguard-condition")).toBe("unavailable");
      expect(res.headers.get("x-steerguard-condition-value")).toBeNull();
      if (stream) expect((await sseData(res)).at(-1)).toBe("[DONE]");
      else expect((await jsonOf(res)).choices[0].message.content).toBe("Steered");
      expect(backend.requests[0].steering).toEqual({ profile: "refusal", strength: 2, conditional: false });
      expect(events.events[0]).toMatchObject({
        route: "conditional",
        status: 200,
        steering: { profile: "refusal", strength: 2 },
        condition: null,
        condition_fallback: NO_CONDITION,
        steering_applied: true,
      });
      expect(events.events[0].steering).not.toHaveProperty("conditional");
      expect(await metrics.text()).toContain('steerguard_condition_total{arm="default",outcome="unavailable"} 1');
    }
  });

  it("leaves other routes, other profiles and a backend that knows nothing as they were", async () => {
    for (const [risk, lacks, conditional] of [
      [0.45, "other", true],
      [0.7, "refusal", false],
    ] as const) {
      const backend = steeringSidecar();
      backend.withoutCondition = lacking(lacks);
      const { post, events } = setup(banded(), { backend, risk });
      const res = await post(chat());
      await res.text();
      expect(res.headers.get("x-steerguard-condition")).toBeNull();
      expect(backend.requests[0].steering?.conditional).toBe(conditional);
      expect(events.events[0]).not.toHaveProperty("condition_fallback");
    }
  });

  it("keeps /readyz ready, with a warning naming the profile and the sidecar", async () => {
    const backend = steeringSidecar();
    backend.withoutCondition = lacking("refusal");
    const { app } = setup(banded(), { backend });
    const res = await app.request("/readyz");
    expect(res.status).toBe(200);
    expect(await jsonOf(res)).toMatchObject({ ready: true, warnings: [noConditionWarning("refusal", "fake:1")] });
    // No band: nothing to warn about.
    const plain = setup({ steering: { profile: "refusal" } }, { backend });
    expect(await jsonOf(await plain.app.request("/readyz"))).not.toHaveProperty("warnings");
  });
});

describe("conditional route through the pool, against a sidecar that refuses it", () => {
  const cleanup: Array<() => unknown> = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  it("is refused (400) before Info is known, as before, and steered once the pool knows", async () => {
    const fake = await startFakeSidecar({ modelId: "organism260K", profiles: [{ name: "refusal", hasCondition: false }] });
    cleanup.push(() => fake.close());
    const pool = new SidecarPool([fake.address], { healthIntervalMs: 60_000, healthTimeoutMs: 2_000 });
    cleanup.push(() => pool.close());
    const { post, events } = setup(banded(), { sidecar: pool, risk: 0.45 });
    const before = await post(chat());
    expect(before.status).toBe(400);
    expect((await jsonOf(before)).error.code).toBe("sidecar_rejected");
    await pool.startHealthChecks();
    const after = await post(chat());
    expect(after.status).toBe(200);
    expect(after.headers.get("x-steerguard-condition")).toBe("unavailable");
    expect((await jsonOf(after)).choices[0].message.content).toBe("fake reply");
    expect(fake.requests.map((r) => r.steering?.conditional)).toEqual([true, false]);
    expect(events.events.map((e) => [e.status, e.condition_fallback])).toEqual([
      [400, undefined],
      [200, NO_CONDITION],
    ]);
  });
});
