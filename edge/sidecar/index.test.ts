import { afterEach, describe, expect, it } from "vitest";
import { GenerateRequest, type GenerateChunk } from "../../proto/gen/steerguard/v1/sidecar.ts";
import { startFakeSidecar, type FakeSidecar } from "../../test/support/fake-sidecar.ts";
import { namesAnIpAddress, SidecarFailure, SidecarPool } from "./index.ts";

const req = (content: string, requestId = "r") =>
  GenerateRequest.fromPartial({ requestId, input: { $case: "conversation", value: { messages: [{ role: "user", content }] } } });

const opts = { deadlineMs: 2_000, firstChunkTimeoutMs: 1_000 };

async function drain(rest: AsyncIterable<GenerateChunk>): Promise<GenerateChunk[]> {
  const out: GenerateChunk[] = [];
  for await (const c of rest) out.push(c);
  return out;
}

describe("SidecarPool", () => {
  const cleanup: Array<() => unknown> = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });
  const fake = async () => {
    const f = await startFakeSidecar();
    cleanup.push(() => f.close());
    return f;
  };
  const pool = (addresses: string[]) => {
    const p = new SidecarPool(addresses, { healthIntervalMs: 100, healthTimeoutMs: 500 });
    cleanup.push(() => p.close());
    return p;
  };

  it("streams the first chunk and the rest, and reports health and model id", async () => {
    const f = await fake();
    const p = pool([f.address]);
    await p.startHealthChecks();
    expect(p.ready()).toBe(true);
    expect(p.modelIds()).toEqual(["fake"]);
    const g = await p.start(req("hi"), opts);
    expect(g.first.text).toBe("fake ");
    const rest = await drain(g.rest);
    expect(rest.map((c) => c.text).join("")).toBe("reply");
    expect(rest.at(-1)?.finish).toBeDefined();
    expect(g.address).toBe(f.address);
  });

  it("round-robins over healthy sidecars and skips one that is down", async () => {
    const [a, b] = [await fake(), await fake()];
    const p = pool([a.address, b.address, "127.0.0.1:1"]);
    await p.startHealthChecks();
    expect(p.status().map((s) => s.healthy)).toEqual([true, true, false]);
    const used: string[] = [];
    for (let i = 0; i < 4; i++) {
      const g = await p.start(req("hi"), opts);
      used.push(g.address);
      await drain(g.rest);
    }
    expect(used).toEqual([a.address, b.address, a.address, b.address]);
  });

  it("balances round-robin over the addresses of one multi-address target", async () => {
    // A DNS name with several records takes the same path (grpc-js round_robin over the
    // resolved addresses); this machine has no name with several loopback records, so the
    // test names the addresses with grpc's ipv4: scheme instead.
    const [a, b] = [await fake(), await fake()];
    const target = `ipv4:${a.address},${b.address}`;
    const p = pool([target]);
    await p.startHealthChecks();
    expect(p.ready()).toBe(true);
    for (let i = 0; i < 6; i++) {
      const g = await p.start(req("hi", `rr${i}`), opts);
      expect(g.address).toBe(target);
      await drain(g.rest);
    }
    expect(a.requests.length).toBeGreaterThan(0);
    expect(b.requests.length).toBeGreaterThan(0);
    expect(a.requests.length + b.requests.length).toBe(6);
  });

  it("fails over when a sidecar turns out to be unreachable, and fails fast when none is", async () => {
    const a = await fake();
    const p = pool(["127.0.0.1:1", a.address]);
    // No health round yet: both are "unknown", the first is tried and skipped.
    const g = await p.start(req("hi"), opts);
    expect(g.address).toBe(a.address);
    await drain(g.rest);
    const dead = pool(["127.0.0.1:1"]);
    const t = performance.now();
    await expect(dead.start(req("hi"), opts)).rejects.toMatchObject({ kind: "unavailable" });
    expect(performance.now() - t).toBeLessThan(1_500);
    await expect(dead.start(req("hi"), opts)).rejects.toBeInstanceOf(SidecarFailure);
  });

  it("times out when the first chunk does not come, and cancels the call", async () => {
    const f = await fake();
    const p = pool([f.address]);
    const t = performance.now();
    await expect(p.start(req("[hang]", "h1"), { deadlineMs: 5_000, firstChunkTimeoutMs: 200 })).rejects.toMatchObject({ kind: "timeout" });
    expect(performance.now() - t).toBeLessThan(1_000);
    await f.waitCancelled("h1");
  });

  it("fails mid-stream with the deadline when the sidecar stalls", async () => {
    const f = await fake();
    const p = pool([f.address]);
    const g = await p.start(req("[stall]"), { deadlineMs: 300, firstChunkTimeoutMs: 300 });
    expect(g.first.text).toBe("partial");
    await expect(drain(g.rest)).rejects.toMatchObject({ kind: "timeout" });
  });

  it("cancels the sidecar stream when the caller's signal aborts", async () => {
    const f = await fake();
    const p = pool([f.address]);
    const ctl = new AbortController();
    const g = await p.start(req("[forever]", "c1"), { ...opts, signal: ctl.signal, deadlineMs: 10_000 });
    expect(g.first.text).toBe("x");
    ctl.abort();
    await f.waitCancelled("c1");
  });

  it("reports a sidecar that dies mid-stream as unavailable", async () => {
    const f: FakeSidecar = await fake();
    const p = pool([f.address]);
    const g = await p.start(req("[die]"), opts);
    await expect(drain(g.rest)).rejects.toMatchObject({ kind: expect.stringMatching(/unavailable|internal|cancelled/) });
  });

  it("marks a NOT_SERVING sidecar down, routes around it, and brings it back", async () => {
    const [a, b] = [await fake(), await fake()];
    const p = pool([a.address, b.address]);
    await p.startHealthChecks();
    a.setServing(false);
    await new Promise((r) => setTimeout(r, 350));
    expect(p.status().map((s) => s.healthy)).toEqual([false, true]);
    for (let i = 0; i < 3; i++) {
      const g = await p.start(req("hi"), opts);
      expect(g.address).toBe(b.address);
      await drain(g.rest);
    }
    // Every sidecar down: still tried ("panic mode"), since health may be stale.
    b.setServing(false);
    await new Promise((r) => setTimeout(r, 350));
    expect(p.ready()).toBe(false);
    const g = await p.start(req("hi"), opts);
    await drain(g.rest);
    a.setServing(true);
    await new Promise((r) => setTimeout(r, 350));
    expect(p.ready()).toBe(true);
  });
});

describe("SidecarPool over TLS", () => {
  it("needs sidecar.tls.server_name when a target names the sidecar by IP address (TLS clients send a name)", () => {
    for (const ip of ["127.0.0.1:50051", "[::1]:50051", "dns:///10.0.0.5:50051", "ipv4:10.0.0.1:1,10.0.0.2:1", "ipv6:[::1]:1"]) expect(namesAnIpAddress(ip), ip).toBe(true);
    for (const name of ["localhost:50051", "dns:///sidecar.ns.svc:50051", "dns://8.8.8.8/sidecar:1", "sidecar:50051"]) expect(namesAnIpAddress(name), name).toBe(false);
    const tls = { ca: "/c/ca.crt", cert: "/c/edge.crt", key: "/c/edge.key" };
    const opts = { healthIntervalMs: 100, healthTimeoutMs: 500 };
    expect(() => new SidecarPool(["sidecar:1", "10.0.0.1:1"], { ...opts, tls })).toThrow(/^sidecar TLS: 10\.0\.0\.1:1 names the sidecar by IP address: set sidecar\.tls\.server_name/);
    new SidecarPool(["10.0.0.1:1"], { ...opts, tls: { ...tls, serverName: "sidecar" } }).close();
  });
});
