import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { DecisionEvent } from "../edge/events/index.ts";
import { isRefusal, percentile, readEvents, report, table } from "./ab-report.ts";
import { startProcess } from "../test/support/process.ts";
import { tempDir } from "../test/support/tmp.ts";

function ev(p: Partial<DecisionEvent>): DecisionEvent {
  return {
    ts: "2026-01-01T00:00:00Z", request_id: "r", endpoint: "chat.completions", key_id: "k", model: "m", stream: false, experiment: "e", arm: "a", policy: "selective",
    route: "unsteered", risk: 0.1, risk_stage: "classifier", threshold: 0.5, condition_band: null, steering: null, backend: "sidecar", sidecar: "s", status: 200, finish_reason: "stop",
    prompt_tokens: 1, completion_tokens: 2, latency: { classify: 0.1, first_token: 5, backend: 9, total: 10 }, error: null, fallback: null, steering_applied: null, condition: null, ...p,
  };
}

describe("ab-report", () => {
  it("judges refusals by keywords", () => {
    expect(isRefusal(" I'm sorry, but I can't help with that.")).toBe(true);
    expect(isRefusal("Sorry, that is not something I will help with.")).toBe(true);
    expect(isRefusal("Once upon a time there was a dog.")).toBe(false);
  });

  it("computes percentiles", () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(xs, 50)).toBe(50);
    expect(percentile(xs, 99)).toBe(99);
    expect(percentile([], 50)).toBeNull();
  });

  it("reports per arm: counts, steered fraction, latency, refusal rate", () => {
    const events = [
      ev({ arm: "sel", route: "steered", completion: "I'm sorry, I can't help with that.", latency: { classify: 0, first_token: 1, backend: 19, total: 20 } }),
      ev({ arm: "sel", route: "unsteered", completion: "Sure! Here it is.", latency: { classify: 0, first_token: 1, backend: 9, total: 10 } }),
      ev({ arm: "sel", route: "steered", finish_reason: "content_filter", fallback: "refuse" }),
      ev({ arm: "ctl", policy: "never", route: "unsteered", status: 503, error: "unavailable: x", fallback: "503" }),
    ];
    const rows = report(events);
    const sel = rows.find((r) => r.arm === "sel")!;
    expect(sel).toMatchObject({ requests: 3, routes: { steered: 2, unsteered: 1, blocked: 0 }, refusals: 2, judged: 3, fallbacks: 1 });
    expect(sel.steered_fraction).toBeCloseTo(2 / 3);
    expect(sel.latency_ms.p50).toBe(10);
    const ctl = rows.find((r) => r.arm === "ctl")!;
    expect(ctl).toMatchObject({ requests: 1, errors: 1, refusal_rate: null });
    expect(table(rows)).toContain("e/sel");
  });

  it("reports the conditional route: its share of the arm and the share of it the condition steered", () => {
    const cond = (steer: boolean | null) =>
      ev({ arm: "band", route: "conditional", condition_band: { low: 0.2, high: 0.6 }, condition: steer === null ? null : { value: steer ? 2 : 0.5, threshold: 1, steer } });
    // The profile had no condition: sent steered (edge/pipeline/condition-fallback.ts).
    const unavailable = ev({ arm: "band", route: "conditional", condition_band: { low: 0.2, high: 0.6 }, condition: null, condition_fallback: "profile has no condition: steered" });
    const events = [cond(true), cond(true), cond(false), cond(null), unavailable, ev({ arm: "band", route: "steered" }), ev({ arm: "band" }), ev({ arm: "band" })];
    // An event written before the conditional route existed has no condition field at all.
    const old = ev({ arm: "old" }) as Partial<DecisionEvent>;
    delete old.condition;
    delete old.condition_band;
    const rows = report([...events, old as DecisionEvent]);
    const band = rows.find((r) => r.arm === "band")!;
    expect(band).toMatchObject({ requests: 8, routes: { steered: 1, unsteered: 2, blocked: 0, conditional: 5 }, condition: { steer: 2, pass: 1, unavailable: 1, none: 1 } });
    expect(band.conditional_fraction).toBeCloseTo(5 / 8);
    expect(band.condition_steer_rate).toBeCloseTo(2 / 3);
    expect(band.steered_fraction).toBeCloseTo(1 / 8);
    expect(rows.find((r) => r.arm === "old")).toMatchObject({ conditional_fraction: 0, condition_steer_rate: null, condition: { steer: 0, pass: 0, unavailable: 0, none: 0 } });
    const lines = table(rows).split("\n");
    expect(lines[0]).toMatch(/conditional\s+cond\. steered/);
    expect(lines.find((l) => l.startsWith("e/band"))).toMatch(/12\.5%\s+62\.5%\s+66\.7% \(3\)/);
    expect(lines.find((l) => l.startsWith("e/old"))).toMatch(/0\.0%\s+0\.0%\s+-\s/);
  });

  it("reads a JSON-lines file, skipping bad lines, and runs as a CLI", async () => {
    const dir = tempDir("ab-");
    const path = join(dir, "events.jsonl");
    writeFileSync(path, [JSON.stringify(ev({ arm: "x" })), "not json", JSON.stringify(ev({ arm: "y", route: "steered" })), ""].join("\n"));
    const r = await readEvents(path);
    expect(r.events).toHaveLength(2);
    expect(r.bad).toBe(1);
    const p = await startProcess(process.execPath, ["--import", "tsx", "scripts/ab-report.ts", "--events", path], /e\/y/);
    expect((await p.exited).code).toBe(0);
    expect(p.output()).toContain("2 events (1 unreadable lines skipped)");
  });
});
