import { describe, expect, it } from "vitest";
import { INITIAL_SERVICE_MS, retryAfterMs, ServiceTimeMean } from "./load.ts";

describe("retryAfterMs", () => {
  it("is queue depth x mean service time / batch rows, rounded up to whole seconds", () => {
    // 64 waiting, 500 ms each, 8 rows: 4 s to drain.
    expect(retryAfterMs(64, 500, 8)).toBe(4_000);
    // 10 x 300 / 4 = 750 ms: rounded up to 1 s.
    expect(retryAfterMs(10, 300, 4)).toBe(1_000);
    // 7 x 1000 / 2 = 3.5 s: 4 s.
    expect(retryAfterMs(7, 1_000, 2)).toBe(4_000);
  });

  it("is at least 1 s, also for an empty queue or no service time yet", () => {
    expect(retryAfterMs(0, 0, 8)).toBe(1_000);
    expect(retryAfterMs(0, 20_000, 1)).toBe(20_000); // one request's worth: the one that would wait
    expect(retryAfterMs(3, 10, 0)).toBe(1_000);
  });
});

describe("ServiceTimeMean", () => {
  it("starts at the initial guess, takes the first sample as is, then follows recent samples", () => {
    const m = new ServiceTimeMean(0.5);
    expect(m.ms).toBe(INITIAL_SERVICE_MS);
    m.add(200);
    expect(m.ms).toBe(200);
    m.add(400);
    expect(m.ms).toBe(300);
    m.add(Number.NaN);
    m.add(-5);
    expect(m.ms).toBe(300);
  });
});
