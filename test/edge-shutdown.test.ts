/**
 * Shutdown of the real Deno edge (issue 14 fault 5): SIGTERM with requests in
 * flight that outlast the grace period (a stream that never ends, a
 * generation that never starts). The forced exit must still record those
 * requests' decision events (status 503, error "shutdown: ...") and flush
 * the events file, as the graceful path does for requests that finished.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DecisionEvent } from "../edge/events/index.ts";
import { startEdge } from "./support/edge.ts";
import { startFakeSidecar, type FakeSidecar } from "./support/fake-sidecar.ts";
import { tempDir } from "./support/tmp.ts";

const KEY = "sk-e2e-shutdown";

function readEvents(path: string): DecisionEvent[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as DecisionEvent);
}

async function until(what: string, ok: () => boolean, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("edge shutdown (real Deno edge, fake sidecar)", () => {
  let fake: FakeSidecar;
  let edge: Awaited<ReturnType<typeof startEdge>>;
  let eventsPath: string;

  beforeAll(async () => {
    fake = await startFakeSidecar({ modelId: "organism260K" });
    eventsPath = join(tempDir("steerguard-shutdown-"), "events.jsonl");
    edge = await startEdge(
      {
        sidecars: [fake.address],
        sidecar: { deadline_ms: 60_000, first_chunk_timeout_ms: 60_000, health_interval_ms: 200 },
        events: { path: eventsPath },
        shutdown: { grace_ms: 1_000 },
      },
      { env: { STEERGUARD_API_KEYS: KEY } },
    );
  });
  afterAll(async () => {
    edge?.child.kill("SIGKILL");
    await fake?.close();
  });

  const post = (requestId: string, content: string, stream: boolean) =>
    fetch(`${edge.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json", "x-request-id": requestId },
      body: JSON.stringify({ model: "organism260K", messages: [{ role: "user", content }], stream }),
    });

  it("SIGTERM past the grace period: every request in flight still has its event, flushed before exit", async () => {
    const done = await post("shutdown-done", "What is the capital of France?", false);
    expect(done.status).toBe(200);
    await done.text();

    // A stream that never ends, already answering when the signal comes.
    const streaming = await post("shutdown-stream", "[forever] Tell me a story about a dog", true);
    expect(streaming.status).toBe(200);
    const reader = streaming.body!.getReader();
    await reader.read();
    const drained = (async () => {
      try {
        for (;;) if ((await reader.read()).done) return;
      } catch {
        // the connection closes with the process
      }
    })();
    // A generation that never starts (the edge waits for its first chunk).
    const hanging = post("shutdown-hang", "[hang] What is the capital of France?", false).then(
      (r) => r.text().then(() => r.status),
      () => "connection closed",
    );
    await until("both requests at the sidecar", () => ["shutdown-stream", "shutdown-hang"].every((id) => fake.requests.some((r) => r.requestId === id)));

    const signalled = performance.now();
    edge.child.kill("SIGTERM");
    const exit = await edge.exited;
    const tookMs = performance.now() - signalled;
    await drained;
    await hanging;

    const events = readEvents(eventsPath);
    const byId = new Map(events.map((e) => [e.request_id, e]));
    expect(byId.get("shutdown-done")).toMatchObject({ status: 200, error: null });
    expect(byId.get("shutdown-stream")).toMatchObject({ status: 503, backend: "sidecar", error: expect.stringMatching(/^shutdown: /) });
    expect(byId.get("shutdown-hang")).toMatchObject({ status: 503, error: expect.stringMatching(/^shutdown: /) });
    expect(events).toHaveLength(3);
    expect(exit.code).toBe(0);
    // The configured 1 s grace, not the old hard-coded 10 s.
    expect(tookMs).toBeGreaterThanOrEqual(900);
    expect(tookMs).toBeLessThan(5_000);
    expect(edge.output()).toMatch(/SIGTERM, shutting down/);
    expect(edge.output()).toMatch(/2 request\(s\) still in flight after 1000 ms/);
  }, 30_000);
});
