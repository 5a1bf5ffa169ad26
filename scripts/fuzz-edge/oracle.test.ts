import { describe, expect, it } from "vitest";
import { answerProblem, routingProblem } from "./oracle.ts";

const ok = { "content-type": "application/json", "x-steerguard-route": "conditional" };
const chatBody = JSON.stringify({
  id: "chatcmpl-1", object: "chat.completion", created: 1, model: "m",
  choices: [{ index: 0, message: { role: "assistant", content: "hi" }, finish_reason: "stop" }],
  usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
});

describe("routing headers of a generation answer", () => {
  it("accepts the four routes, and a conditional outcome that agrees with value >= threshold", () => {
    for (const route of ["steered", "unsteered", "blocked", "conditional"]) expect(routingProblem({ "x-steerguard-route": route })).toBeNull();
    const cond = (c: string, value: string, threshold: string) => ({ ...ok, "x-steerguard-condition": c, "x-steerguard-condition-value": value, "x-steerguard-condition-threshold": threshold });
    expect(routingProblem(cond("steer", "0.5", "0.5"))).toBeNull();
    expect(routingProblem(cond("pass", "0.499999", "0.5"))).toBeNull();
    expect(routingProblem(cond("steer", "0.4", "0.5"))).toMatch(/steer with value 0.4 and threshold 0.5/);
    expect(routingProblem(cond("pass", "2", "1"))).toMatch(/pass/);
    expect(routingProblem(cond("steer", "x", "1"))).toMatch(/not numbers/);
  });

  it("flags a missing or unknown route, and an outcome off the conditional route", () => {
    expect(routingProblem({})).toMatch(/x-steerguard-route is null/);
    expect(routingProblem({ "x-steerguard-route": "maybe" })).toMatch(/"maybe"/);
    expect(routingProblem({ "x-steerguard-route": "steered", "x-steerguard-condition": "steer" })).toMatch(/on route steered/);
  });

  it("makes a well-formed body with wrong routing headers a bad answer", () => {
    const response = (headers: Record<string, string>) => ({ kind: "response" as const, status: 200, headers, body: new TextEncoder().encode(chatBody) });
    expect(answerProblem(response(ok), "POST", { endpoint: "chat" })).toBeNull();
    expect(answerProblem(response({ "content-type": "application/json" }), "POST", { endpoint: "chat" })).toMatch(/x-steerguard-route/);
  });
});
