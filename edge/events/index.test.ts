import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { JsonlSink, NullSink, openSink, type DecisionEvent } from "./index.ts";
import { tempDir } from "../../test/support/tmp.ts";

const ev = (id: string): DecisionEvent => ({
  ts: "t", request_id: id, endpoint: "chat.completions", key_id: "k", model: "m", stream: false, experiment: "e", arm: "a", policy: "never", route: "unsteered",
  risk: 0.1, risk_stage: "classifier", threshold: null, condition_band: null, steering: null, backend: "sidecar", sidecar: "s", status: 200, finish_reason: "stop",
  prompt_tokens: 1, completion_tokens: 1, latency: { classify: 0, first_token: 1, backend: 1, total: 2 }, error: null, fallback: null, steering_applied: null, condition: null,
});

describe("events", () => {
  it("appends one JSON line per event", async () => {
    const path = join(tempDir("ev-"), "e.jsonl");
    const sink = new JsonlSink(path);
    sink.write(ev("1"));
    sink.write(ev("2"));
    await sink.close();
    const again = new JsonlSink(path);
    again.write(ev("3"));
    await again.close();
    const lines = readFileSync(path, "utf8").trim().split("\n").map((l) => JSON.parse(l) as DecisionEvent);
    expect(lines.map((l) => l.request_id)).toEqual(["1", "2", "3"]);
  });

  it("is off without a path", () => {
    expect(openSink(undefined)).toBeInstanceOf(NullSink);
  });
});
