import { describe, expect, it } from "vitest";
import { pickReplica, promptChars, type ReplicaWork } from "./route.ts";

const r = (o: Partial<ReplicaWork> = {}): ReplicaWork => ({ pendingPromptChars: 0, inFlight: 0, saturated: false, dead: false, ...o });

describe("pickReplica", () => {
  it("sends a request away from a replica still prefilling a long prompt", () => {
    expect(pickReplica([r({ pendingPromptChars: 8000, inFlight: 1 }), r({ inFlight: 3 })])).toBe(1);
  });

  it("then to the one with the fewest requests in flight, then the lowest index", () => {
    expect(pickReplica([r({ inFlight: 2 }), r({ inFlight: 1 }), r({ inFlight: 1 })])).toBe(1);
    expect(pickReplica([r(), r()])).toBe(0);
  });

  it("takes a saturated replica only when every live one is", () => {
    expect(pickReplica([r({ saturated: true }), r({ pendingPromptChars: 9000, inFlight: 9 })])).toBe(1);
    expect(pickReplica([r({ saturated: true, inFlight: 5 }), r({ saturated: true, inFlight: 4 })])).toBe(1);
  });

  it("never picks a dead replica; -1 when none is alive", () => {
    expect(pickReplica([r({ dead: true }), r({ pendingPromptChars: 10, inFlight: 8 })])).toBe(1);
    expect(pickReplica([r({ dead: true }), r({ dead: true })])).toBe(-1);
    expect(pickReplica([])).toBe(-1);
  });
});

describe("promptChars", () => {
  it("counts a raw prompt, or the conversation's message contents", () => {
    expect(promptChars({ $case: "prompt", value: "hello" })).toBe(5);
    expect(promptChars({ $case: "conversation", value: { messages: [{ role: "user", content: "ab" }, { role: "assistant", content: "cde" }] } })).toBe(5);
    expect(promptChars(undefined)).toBe(0);
  });
});
