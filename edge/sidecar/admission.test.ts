import { describe, expect, it } from "vitest";
import { Admission, retryAfterSeconds } from "./admission.ts";

describe("Admission (the edge's limit of sidecar calls in flight)", () => {
  it("admits up to the limit, then refuses until a slot is given back", () => {
    const a = new Admission(2);
    expect(a.tryEnter()).toBe(true);
    expect(a.tryEnter()).toBe(true);
    expect(a.full).toBe(true);
    expect(a.tryEnter()).toBe(false);
    expect(a.size).toBe(2);
    a.leave(null);
    expect(a.full).toBe(false);
    expect(a.tryEnter()).toBe(true);
  });

  it("has no limit at 0", () => {
    const a = new Admission(0);
    for (let i = 0; i < 1000; i++) expect(a.tryEnter()).toBe(true);
    expect(a.full).toBe(false);
  });

  it("derives retry-after from the mean call time of served calls", () => {
    const a = new Admission(2, 0.5);
    expect(a.retryAfterS()).toBeNull();
    a.tryEnter();
    a.tryEnter();
    a.leave(3_000);
    a.leave(5_000);
    expect(a.meanCallMs).toBe(4_000);
    a.tryEnter();
    a.tryEnter();
    // One waiting beyond 2 calls of 4 s each: 2 s.
    expect(a.retryAfterS()).toBe(2);
  });

  it("retryAfterSeconds rounds up and is at least 1", () => {
    expect(retryAfterSeconds(64, 500, 8)).toBe(4);
    expect(retryAfterSeconds(1, 10, 8)).toBe(1);
    expect(retryAfterSeconds(0, 0, 0)).toBe(1);
  });
});
