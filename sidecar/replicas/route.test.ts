import { describe, expect, it } from "vitest";
import { BUSY_PROMPT_TOKENS, pickReplica, promptChars, PromptSizer, type ReplicaWork } from "./route.ts";

const r = (o: Partial<ReplicaWork> = {}): ReplicaWork => ({ pendingPromptTokens: 0, inFlight: 0, maxBatch: 8, saturated: false, dead: false, ...o });

describe("pickReplica", () => {
  it("packs requests onto the replica with the most in flight while it is free, keeping the others free", () => {
    expect(pickReplica([r(), r({ inFlight: 2 })])).toBe(1);
    expect(pickReplica([r({ inFlight: 2, pendingPromptTokens: 40 }), r()])).toBe(0);
    expect(pickReplica([r(), r()])).toBe(0);
  });

  it("sends a request away from a replica prefilling a long prompt, or with no batch row to spare", () => {
    expect(pickReplica([r({ pendingPromptTokens: BUSY_PROMPT_TOKENS + 1, inFlight: 3 }), r()])).toBe(1);
    expect(pickReplica([r({ inFlight: 8 }), r({ inFlight: 1 })])).toBe(1);
  });

  it("when none is free: the least prompt text waiting, then the fewest in flight", () => {
    const busy = BUSY_PROMPT_TOKENS * 4;
    expect(pickReplica([r({ pendingPromptTokens: busy, inFlight: 1 }), r({ pendingPromptTokens: busy / 2, inFlight: 3 })])).toBe(1);
    expect(pickReplica([r({ inFlight: 9 }), r({ inFlight: 8 })])).toBe(1);
  });

  it("takes a saturated replica only when every live one is", () => {
    expect(pickReplica([r({ saturated: true }), r({ pendingPromptTokens: 9000, inFlight: 9 })])).toBe(1);
    expect(pickReplica([r({ saturated: true, inFlight: 5 }), r({ saturated: true, inFlight: 4 })])).toBe(0);
  });

  it("never picks a dead replica; -1 when none is alive", () => {
    expect(pickReplica([r({ dead: true, inFlight: 3 }), r({ pendingPromptTokens: 10, inFlight: 8 })])).toBe(1);
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

describe("PromptSizer", () => {
  it("estimates tokens at 4 characters each until 64 tokens were seen, then at the rate seen", () => {
    const sizer = new PromptSizer();
    expect(sizer.tokensOf(1000)).toBe(250);
    sizer.learn(100, 50); // not enough yet
    expect(sizer.charsPerToken).toBe(4);
    sizer.learn(60, 30);
    expect(sizer.charsPerToken).toBe(2);
    expect(sizer.tokensOf(1000)).toBe(500);
    sizer.learn(500, 0); // a request with no usage counts nothing
    expect(sizer.charsPerToken).toBe(2);
  });
});
