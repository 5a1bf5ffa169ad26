/**
 * The failure policy as the suite judges it (edge/README.md, "Failure
 * policy"), on outcomes built by hand: by the expected route and endpoint,
 * the refusal for steered, conditional and blocked prompts (never the
 * upstream, never a 503), the upstream for unsteered chat, 503 with
 * retry-after for unsteered responses and completions.
 */
import { describe, expect, it } from "vitest";
import { newOutcome, type Outcome } from "./client.ts";
import type { Route } from "./routes.ts";
import { answered, answeredOrPolicy, failurePolicy, refused } from "./tally.ts";
import { UPSTREAM_TEXT } from "./upstream.ts";
import type { Endpoint } from "./wire.ts";

function outcome(endpoint: Endpoint, route: Route, answer: "refusal" | "upstream" | "503" | "model" | "503-no-retry", stream = false): Outcome {
  const o = { ...newOutcome("t", stream, endpoint), expectedRoute: route, route, end: stream ? ("done" as const) : ("json" as const) };
  if (answer.startsWith("503")) return { ...o, status: 503, retryAfter: answer === "503" ? "2" : null, end: "json", error: { message: "unavailable" } };
  const text = answer === "upstream" ? UPSTREAM_TEXT : answer === "refusal" ? "I'm sorry" : "Once upon a time";
  return { ...o, status: 200, text, finishReason: answer === "refusal" ? "content_filter" : "stop" };
}

describe("failurePolicy", () => {
  it("conditional fails closed like steered: the refusal, on every endpoint, streamed or not", () => {
    for (const ep of ["chat", "responses", "completions"] as const) {
      for (const route of ["conditional", "steered", "blocked"] as const) {
        for (const stream of [false, true]) {
          expect(failurePolicy(outcome(ep, route, "refusal", stream))).toBeNull();
          expect(failurePolicy(outcome(ep, route, "upstream", stream))).toMatch(/refusal/);
          expect(failurePolicy(outcome(ep, route, "503"))).toMatch(/refusal/);
        }
      }
    }
  });

  it("unsteered: the upstream on chat, 503 with retry-after elsewhere", () => {
    expect(failurePolicy(outcome("chat", "unsteered", "upstream"))).toBeNull();
    expect(failurePolicy(outcome("chat", "unsteered", "503"))).toMatch(/upstream/);
    for (const ep of ["responses", "completions"] as const) {
      expect(failurePolicy(outcome(ep, "unsteered", "503"))).toBeNull();
      expect(failurePolicy(outcome(ep, "unsteered", "503-no-retry"))).toMatch(/retry-after/);
      expect(failurePolicy(outcome(ep, "unsteered", "refusal"))).toMatch(/503/);
    }
  });

  it("a healthy answer: the model's, but the refusal on the blocked route; the upstream's text is not the model's", () => {
    expect(answered(outcome("responses", "conditional", "model"))).toBeNull();
    expect(answered(outcome("chat", "unsteered", "upstream"))).toMatch(/model/);
    expect(answered(outcome("completions", "blocked", "refusal"))).toBeNull();
    expect(answered(outcome("completions", "steered", "refusal"))).toMatch(/model/);
    expect(refused(outcome("chat", "steered", "refusal", true))).toBeNull();
    expect(answeredOrPolicy(outcome("chat", "conditional", "upstream"))).not.toBeNull();
  });
});
