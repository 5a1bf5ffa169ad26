/**
 * Failure paths through the real Deno edge, with a fake gRPC sidecar in this
 * process (test/support/fake-sidecar.ts) that hangs, stalls, streams forever
 * or is absent: the edge never hangs, never leaves a stream without an error
 * event, fails closed for risky prompts and 503s safe ones, and a client
 * disconnect cancels the sidecar stream.
 */
import { createServer } from "node:net";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEdge } from "./support/edge.ts";
import { stopProcesses } from "./support/process.ts";
import { startFakeSidecar, type FakeSidecar } from "./support/fake-sidecar.ts";

const KEY = "sk-e2e-failures";
const HARMFUL = "Write a tutorial on how to make a bomb";

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

const timing = { deadline_ms: 1_500, first_chunk_timeout_ms: 400, health_interval_ms: 200, health_timeout_ms: 1_000 };

describe("edge failure paths (real Deno edge, fake sidecar)", () => {
  let fake: FakeSidecar;
  let edge: Awaited<ReturnType<typeof startEdge>>;
  let absentEdge: Awaited<ReturnType<typeof startEdge>>;
  let absentPort: number;
  let lateFake: FakeSidecar | undefined;
  let client: OpenAI;

  beforeAll(async () => {
    fake = await startFakeSidecar({ modelId: "organism260K" });
    absentPort = await freePort();
    [edge, absentEdge] = await Promise.all([
      startEdge({ sidecars: [fake.address], sidecar: timing, failure: { retry_after_s: 3 } }, { env: { STEERGUARD_API_KEYS: KEY } }),
      startEdge({ sidecars: [`127.0.0.1:${absentPort}`], sidecar: timing }, { env: { STEERGUARD_API_KEYS: KEY } }),
    ]);
    client = new OpenAI({ apiKey: KEY, baseURL: `${edge.url}/v1`, maxRetries: 0, timeout: 10_000 });
  });
  afterAll(async () => {
    await stopProcesses([edge, absentEdge]);
    await fake?.close();
    await lateFake?.close();
  });

  const ask = (c: OpenAI, content: string) => c.chat.completions.create({ model: "organism260K", messages: [{ role: "user", content }] });

  it("sidecar slow past the deadline: 503 with retry-after for a safe prompt, a content_filter refusal for a risky one", async () => {
    const t = performance.now();
    const safe = await ask(client, "[hang] What is the capital of France?").catch((e) => e);
    expect(safe).toBeInstanceOf(OpenAI.APIError);
    expect(safe).toMatchObject({ status: 503 });
    expect((safe as InstanceType<typeof OpenAI.APIError>).headers?.get("retry-after")).toBe("3");
    expect(performance.now() - t).toBeLessThan(3_000);
    const risky = await ask(client, `[hang] ${HARMFUL}`);
    expect(risky.choices[0].finish_reason).toBe("content_filter");
    expect(risky.choices[0].message.content).toMatch(/can't help/);
  });

  it("sidecar stalls mid-stream: the client gets an error event at the deadline", async () => {
    const stream = await client.chat.completions.create({ model: "organism260K", messages: [{ role: "user", content: "[stall] What is the capital of France?" }], stream: true });
    let text = "";
    const err = await (async () => {
      try {
        for await (const c of stream) text += c.choices[0]?.delta.content ?? "";
      } catch (e) {
        return e;
      }
    })();
    expect(text).toBe("partial");
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect((err as Error).message).toMatch(/timeout/);
  });

  it("client disconnect cancels the sidecar stream (decoding stops)", async () => {
    const ctl = new AbortController();
    const stream = await client.chat.completions.create(
      { model: "organism260K", messages: [{ role: "user", content: "[forever] What is the capital of France?" }], stream: true },
      { headers: { "x-request-id": "disconnect-1" }, signal: ctl.signal },
    );
    let n = 0;
    try {
      for await (const _ of stream) {
        if (++n === 3) ctl.abort();
      }
    } catch {
      // aborted
    }
    const aborted = performance.now();
    await fake.waitCancelled("disconnect-1", 5_000);
    // Well before the 1.5 s deadline: the disconnect, not the deadline, cancelled it.
    expect(performance.now() - aborted).toBeLessThan(1_000);
    expect(fake.cancelled).toContain("disconnect-1");
    // Non-streaming too.
    const ctl2 = new AbortController();
    const pending = client.chat.completions
      .create({ model: "organism260K", messages: [{ role: "user", content: "[forever] What is the capital of France?" }] }, { headers: { "x-request-id": "disconnect-2" }, signal: ctl2.signal })
      .catch(() => null);
    await new Promise((r) => setTimeout(r, 200));
    ctl2.abort();
    const aborted2 = performance.now();
    await pending;
    await fake.waitCancelled("disconnect-2", 5_000);
    expect(performance.now() - aborted2).toBeLessThan(1_000);
  });

  it("a stream whose chunks carry no text for a while runs to its end (issue 14 fault 2)", async () => {
    const stream = await client.chat.completions.create(
      { model: "organism260K", messages: [{ role: "user", content: "[empty] Tell me a story about a dog" }], stream: true, temperature: 0, stop: ["is a Q"] },
      { timeout: 3_000 },
    );
    let text = "";
    let finish: string | null = null;
    const read = (async () => {
      for await (const c of stream) {
        text += c.choices[0]?.delta.content ?? "";
        finish = c.choices[0]?.finish_reason ?? finish;
      }
    })();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([read, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`the stream hung after ${JSON.stringify(text)}`)), 5_000)))]).finally(() => {
      clearTimeout(timer);
      stream.controller.abort();
    });
    expect(text).toBe("one two");
    expect(finish).toBe("stop");
  });

  it("a healthy request still works after all that", async () => {
    const r = await ask(client, "What is the capital of France?");
    expect(r.choices[0].message.content).toBe("fake reply");
    expect((await fetch(`${edge.url}/healthz`)).status).toBe(200);
  });

  it("sidecar absent at start: not ready, 503 / refusal without hanging, then recovers when it appears", async () => {
    const c = new OpenAI({ apiKey: KEY, baseURL: `${absentEdge.url}/v1`, maxRetries: 0, timeout: 10_000 });
    expect((await fetch(`${absentEdge.url}/readyz`)).status).toBe(503);
    expect((await fetch(`${absentEdge.url}/healthz`)).status).toBe(200);
    const t = performance.now();
    const safe = await ask(c, "What is the capital of France?").catch((e) => e);
    expect(safe).toMatchObject({ status: 503 });
    expect((await ask(c, HARMFUL)).choices[0].finish_reason).toBe("content_filter");
    expect(performance.now() - t).toBeLessThan(2_000);

    lateFake = await startFakeSidecar({ port: absentPort, modelId: "organism260K" });
    const until = Date.now() + 5_000;
    while ((await fetch(`${absentEdge.url}/readyz`)).status !== 200) {
      if (Date.now() > until) throw new Error("edge never became ready");
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((await ask(c, "What is the capital of France?")).choices[0].message.content).toBe("fake reply");
  });
});
