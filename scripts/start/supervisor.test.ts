import { describe, expect, it } from "vitest";
import { DEFAULT_RESTART_POLICY, exitText, parentOf, RestartBackoff } from "./supervisor.ts";

describe("RestartBackoff", () => {
  it("doubles from 0.5 s up to 10 s, then gives up after 6 restarts in a row", () => {
    const b = new RestartBackoff();
    expect(Array.from({ length: 7 }, () => b.next(1_000))).toEqual([500, 1_000, 2_000, 4_000, 8_000, 10_000, null]);
    expect(b.next(0)).toBeNull();
  });

  it("starts a fresh count after a child served for 30 s", () => {
    const b = new RestartBackoff();
    for (let i = 0; i < 6; i++) b.next(0);
    expect(b.next(DEFAULT_RESTART_POLICY.stableAfterMs - 1)).toBeNull();
    expect(b.next(DEFAULT_RESTART_POLICY.stableAfterMs)).toBe(500);
    expect(b.next(100)).toBe(1_000);
  });

  it("follows its policy", () => {
    const b = new RestartBackoff({ initialDelayMs: 100, maxDelayMs: 250, stableAfterMs: 1_000, maxRestarts: 3 });
    expect([b.next(0), b.next(0), b.next(0), b.next(0)]).toEqual([100, 200, 250, null]);
  });
});

describe("exitText and parentOf", () => {
  it("names a signal over a code", () => {
    expect(exitText(1, null)).toBe("code 1");
    expect(exitText(null, "SIGKILL")).toBe("signal SIGKILL");
  });

  it.runIf(process.platform === "linux")("reads a process's parent from /proc", () => {
    expect(parentOf(process.pid)).toBe(process.ppid);
    expect(parentOf(2 ** 30)).toBeNull();
  });
});
