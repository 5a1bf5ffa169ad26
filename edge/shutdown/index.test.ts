import { describe, expect, it } from "vitest";
import { createShutdown, InflightRequests, type ShutdownDeps } from "./index.ts";

function harness(over: Partial<ShutdownDeps> = {}) {
  const inflight = new InflightRequests();
  const log: string[] = [];
  const abandoned: string[] = [];
  const order: string[] = [];
  let exited: (code: number) => void = () => {};
  const exit = new Promise<number>((r) => (exited = r));
  for (const id of ["a", "b"]) {
    inflight.add((reason) => {
      abandoned.push(`${id}: ${reason}`);
      order.push(`abandon ${id}`);
    });
  }
  const shutdown = createShutdown({
    drain: () => new Promise(() => {}),
    inflight,
    close: async () => void order.push("close"),
    exit: (code) => {
      order.push(`exit ${code}`);
      exited(code);
    },
    log: (l) => log.push(l),
    graceMs: 30,
    ...over,
  });
  return { shutdown, inflight, log, abandoned, order, exit };
}

describe("shutdown", () => {
  it("graceful: once the server has drained, closes (flushing events) and exits 0", async () => {
    const h = harness({ drain: async () => {} });
    h.inflight.abandonAll("test setup"); // nothing left in flight once drained
    h.order.length = 0;
    h.shutdown.stop("SIGTERM");
    expect(await h.exit).toBe(0);
    expect(h.order).toEqual(["close", "exit 0"]);
    expect(h.log).toEqual(["edge: SIGTERM, shutting down"]);
  });

  it("grace period over: records every request still in flight, then closes and exits 0 (issue 14 fault 5)", async () => {
    const h = harness();
    const t0 = performance.now();
    h.shutdown.stop("SIGTERM");
    expect(await h.exit).toBe(0);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(25);
    expect(h.order).toEqual(["abandon a", "abandon b", "close", "exit 0"]);
    expect(h.abandoned).toEqual(["a: shutdown: still in flight 30 ms after SIGTERM", "b: shutdown: still in flight 30 ms after SIGTERM"]);
    expect(h.log).toContain("edge: 2 request(s) still in flight after 30 ms, exiting");
    expect(h.inflight.size).toBe(0);
  });

  it("a second signal exits at once, still recording and flushing", async () => {
    const h = harness({ graceMs: 60_000 });
    h.shutdown.stop("SIGINT");
    h.shutdown.stop("SIGINT");
    expect(await h.exit).toBe(0);
    expect(h.order).toEqual(["abandon a", "abandon b", "close", "exit 0"]);
    expect(h.abandoned[0]).toMatch(/^a: shutdown: SIGINT again/);
  });

  it("a failed server shutdown or a fatal error exits 1, still recording and flushing", async () => {
    const failed = harness({ drain: async () => Promise.reject(new Error("boom")) });
    failed.shutdown.stop("SIGTERM");
    expect(await failed.exit).toBe(1);
    expect(failed.order).toEqual(["abandon a", "abandon b", "close", "exit 1"]);
    const fatal = harness();
    fatal.shutdown.fail(new Error("uncaught"));
    expect(await fatal.exit).toBe(1);
    expect(fatal.order).toEqual(["abandon a", "abandon b", "close", "exit 1"]);
  });

  it("exits even when closing hangs, and only once", async () => {
    let exits = 0;
    const h = harness({ close: () => new Promise(() => {}), closeTimeoutMs: 20, exit: () => void exits++ });
    h.shutdown.fail("x");
    h.shutdown.stop("SIGTERM");
    h.shutdown.stop("SIGTERM");
    await new Promise((r) => setTimeout(r, 80));
    expect(exits).toBe(1);
    expect(h.log.some((l) => l.startsWith("edge: closing failed"))).toBe(true);
  });
});

describe("InflightRequests", () => {
  it("forgets a request once it is recorded, abandons the rest once", () => {
    const inflight = new InflightRequests();
    const seen: string[] = [];
    const leaveA = inflight.add((r) => seen.push(`a ${r}`));
    inflight.add((r) => seen.push(`b ${r}`));
    leaveA();
    expect(inflight.size).toBe(1);
    expect(inflight.abandonAll("bye")).toBe(1);
    expect(inflight.abandonAll("again")).toBe(0);
    expect(seen).toEqual(["b bye"]);
  });
});
