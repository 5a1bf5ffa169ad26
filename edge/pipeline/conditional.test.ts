/**
 * The conditional route through the app in-process (app.request) with a
 * scripted sidecar that answers like the real one: a risk in the arm's
 * condition band is sent with conditional steering; the condition's outcome
 * (first chunk) comes back in the x-steerguard-condition headers, the event
 * and the metrics, on all three endpoints; the failure policy treats the
 * route as steered.
 */
import { describe, expect, it } from "vitest";
import { FinishReason, GenerateChunk, type GenerateRequest } from "../../proto/gen/steerguard/v1/sidecar.ts";
import { SidecarFailure } from "../sidecar/index.ts";
import { ScriptedBackend, setup, sseData, streamOf } from "./testing.ts";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const jsonOf = async (r: Response): Promise<any> => r.json();

const PROFILE_THRESHOLD = 1.5;

/**
 * A sidecar whose condition reads `value` on every prompt: it compares it
 * with the request's threshold override (else the profile's), reports the
 * outcome on the first chunk of a conditional request and steering_applied
 * on the last, as the contract says (proto SteeringRequest.conditional).
 */
function conditionSidecar(value: number, opts: { reportCondition?: boolean } = {}) {
  return new ScriptedBackend(async (req: GenerateRequest) => {
    const s = req.steering;
    const threshold = s?.conditionThreshold ?? PROFILE_THRESHOLD;
    const condition = s?.conditional && opts.reportCondition !== false ? { value, threshold, steer: value >= threshold } : undefined;
    const applied = s ? (s.conditional ? value >= threshold : true) : false;
    return streamOf([
      GenerateChunk.fromPartial({ text: "Once", tokenIds: [1], condition }),
      GenerateChunk.fromPartial({ text: " more", tokenIds: [2] }),
      GenerateChunk.fromPartial({ finish: { reason: FinishReason.FINISH_REASON_STOP, usage: { promptTokens: 4, completionTokens: 2, steeringApplied: applied } } }),
    ]);
  });
}

/** Band [0.3, 0.6) on the default arm; the fixed scorer gives every prompt `risk`. */
const banded = (extra: Record<string, unknown> = {}) => ({ classifier: { condition_band: { low: 0.3, high: 0.6 } }, ...extra });

const chat = (extra: Record<string, unknown> = {}) => ({ model: "organism260K", messages: [{ role: "user", content: "a question" }], ...extra });

describe("conditional route", () => {
  it("sends conditional steering and reports a steering outcome in the headers, the event and the metrics", async () => {
    const backend = conditionSidecar(2.25);
    const { post, events, metrics } = setup(banded(), { backend, risk: 0.45 });
    const res = await post(chat());
    expect(res.status).toBe(200);
    expect(res.headers.get("x-steerguard-route")).toBe("conditional");
    expect(res.headers.get("x-steerguard-condition")).toBe("steer");
    expect(Number(res.headers.get("x-steerguard-condition-value"))).toBe(2.25);
    expect(Number(res.headers.get("x-steerguard-condition-threshold"))).toBe(PROFILE_THRESHOLD);
    expect((await jsonOf(res)).choices[0].message.content).toBe("Once more");
    expect(backend.requests[0].steering).toEqual({ profile: "refusal", strength: 2, conditional: true });
    expect(events.events).toHaveLength(1);
    expect(events.events[0]).toMatchObject({
      route: "conditional",
      threshold: 0.6,
      condition_band: { low: 0.3, high: 0.6 },
      steering: { profile: "refusal", strength: 2, conditional: true },
      condition: { value: 2.25, threshold: PROFILE_THRESHOLD, steer: true },
      steering_applied: true,
      status: 200,
    });
    const text = await metrics.text();
    expect(text).toContain('steerguard_condition_total{arm="default",outcome="steer"} 1');
    expect(text).toMatch(/steerguard_requests_total\{arm="default",route="conditional",status="200",backend="sidecar"\} 1/);
  });

  it("reports a pass outcome, and sends the configured threshold override", async () => {
    const backend = conditionSidecar(0.5);
    const { post, events, metrics } = setup(banded({ steering: { profile: "refusal", strength: 1, condition_threshold: 0.75 } }), { backend, risk: 0.3 });
    const res = await post(chat({ stream: true }));
    expect(res.headers.get("x-steerguard-condition")).toBe("pass");
    expect(res.headers.get("x-steerguard-condition-threshold")).toBe("0.75");
    expect((await sseData(res)).at(-1)).toBe("[DONE]");
    expect(backend.requests[0].steering).toEqual({ profile: "refusal", strength: 1, conditional: true, conditionThreshold: 0.75 });
    expect(events.events[0]).toMatchObject({ route: "conditional", condition: { value: 0.5, threshold: 0.75, steer: false }, steering_applied: false });
    expect(await metrics.text()).toContain('steerguard_condition_total{arm="default",outcome="pass"} 1');
  });

  it("keeps the float32 the sidecar compared: 9 significant digits in headers and events", async () => {
    const value = Math.fround(0.1);
    const threshold = Math.fround(0.1) + 2 ** -27; // the next float32 up
    const backend = conditionSidecar(value);
    const { post, events } = setup(banded({ steering: { profile: "refusal", condition_threshold: threshold } }), { backend, risk: 0.4 });
    const res = await post(chat());
    await res.text();
    const v = Number(res.headers.get("x-steerguard-condition-value"));
    const t = Number(res.headers.get("x-steerguard-condition-threshold"));
    expect(Math.fround(v)).toBe(value);
    expect(Math.fround(t)).toBe(Math.fround(threshold));
    expect(v < t).toBe(true);
    expect(res.headers.get("x-steerguard-condition")).toBe("pass");
    expect(events.events[0].condition).toEqual({ value: v, threshold: t, steer: false });
  });

  it("routes below the band unsteered and at its high steered, without condition headers", async () => {
    for (const [risk, route, steering] of [
      [0.29, "unsteered", undefined],
      [0.6, "steered", { profile: "refusal", strength: 2, conditional: false }],
    ] as const) {
      const backend = conditionSidecar(9);
      const { post, events } = setup(banded(), { backend, risk });
      const res = await post(chat());
      await res.text();
      expect(res.headers.get("x-steerguard-route")).toBe(route);
      expect(res.headers.get("x-steerguard-condition")).toBeNull();
      expect(backend.requests[0].steering).toEqual(steering);
      expect(events.events[0]).toMatchObject({ route, condition: null, condition_band: { low: 0.3, high: 0.6 } });
    }
  });

  it("serves the route the same on responses and legacy completions, streamed and not", async () => {
    const cases = [
      ["/v1/responses", { model: "organism260K", input: "a question" }],
      ["/v1/responses", { model: "organism260K", input: "a question", stream: true }],
      ["/v1/completions", { model: "organism260K", prompt: "a question" }],
      ["/v1/completions", { model: "organism260K", prompt: "a question", stream: true }],
    ] as const;
    for (const [path, body] of cases) {
      const backend = conditionSidecar(3);
      const { postTo, events } = setup(banded(), { backend, risk: 0.5 });
      const res = await postTo(path, body);
      expect(res.status).toBe(200);
      expect(res.headers.get("x-steerguard-route")).toBe("conditional");
      expect(res.headers.get("x-steerguard-condition")).toBe("steer");
      const text = await res.text();
      expect(text).toContain("Once");
      expect(backend.requests[0].steering?.conditional).toBe(true);
      expect(events.events[0]).toMatchObject({ route: "conditional", condition: { value: 3, steer: true }, endpoint: path === "/v1/responses" ? "responses" : "completions" });
    }
  });

  it("records no outcome when the sidecar sends none (no condition headers, outcome none)", async () => {
    const backend = conditionSidecar(3, { reportCondition: false });
    const { post, events, metrics } = setup(banded(), { backend, risk: 0.5 });
    const res = await post(chat());
    await res.text();
    expect(res.headers.get("x-steerguard-route")).toBe("conditional");
    expect(res.headers.get("x-steerguard-condition")).toBeNull();
    expect(events.events[0].condition).toBeNull();
    expect(await metrics.text()).toContain('steerguard_condition_total{arm="default",outcome="none"} 1');
  });
});

describe("conditional route: failure policy (treated as steered)", () => {
  const down = () =>
    new ScriptedBackend(async () => {
      throw new SidecarFailure("unavailable", "no healthy sidecar", null);
    });

  it("refuses when the sidecar is down, as for a steered prompt", async () => {
    const { post, events, metrics } = setup(banded(), { backend: down(), risk: 0.35 });
    const res = await post(chat());
    expect(res.status).toBe(200);
    expect(res.headers.get("x-steerguard-route")).toBe("conditional");
    expect((await jsonOf(res)).choices[0].finish_reason).toBe("content_filter");
    expect(events.events[0]).toMatchObject({ route: "conditional", fallback: "refuse", condition: null });
    expect(await metrics.text()).toContain('steerguard_condition_total{arm="default",outcome="none"} 1');
  });

  it("never sends a conditional prompt upstream: not on failure, not with use: unsteered, not when shed", async () => {
    const calls: string[] = [];
    const fakeFetch = (async (url: string) => {
      calls.push(url);
      return new Response(JSON.stringify({ choices: [{ message: { content: "up" }, finish_reason: "stop" }] }), { headers: { "content-type": "application/json" } });
    }) as unknown as typeof fetch;
    const upstream = { base_url: "http://upstream.test/v1" };
    // Sidecar down: a refusal (below the band, the same prompt goes upstream).
    const failed = setup(banded({ upstream }), { backend: down(), risk: 0.35, fetch: fakeFetch });
    expect((await jsonOf(await failed.post(chat()))).choices[0].finish_reason).toBe("content_filter");
    expect(calls).toHaveLength(0);
    const below = setup(banded({ upstream }), { backend: down(), risk: 0.29, fetch: fakeFetch });
    expect((await jsonOf(await below.post(chat()))).choices[0].message.content).toBe("up");
    expect(calls).toHaveLength(1);
    // use: unsteered sends unsteered prompts upstream, and conditional ones to the sidecar.
    const backend = conditionSidecar(0);
    const routed = setup(banded({ upstream: { ...upstream, use: "unsteered" } }), { backend, risk: 0.35, fetch: fakeFetch });
    await (await routed.post(chat())).text();
    expect(backend.requests).toHaveLength(1);
    expect(calls).toHaveLength(1);
    // Shed for load: 429, not upstream.
    const full = new ScriptedBackend(async () => {
      throw new SidecarFailure("overloaded", "queue full", "fake:1", 8, 2_000);
    });
    const shed = setup(banded({ upstream }), { backend: full, risk: 0.35, fetch: fakeFetch });
    expect((await shed.post(chat())).status).toBe(429);
    expect(calls).toHaveLength(1);
  });
});
