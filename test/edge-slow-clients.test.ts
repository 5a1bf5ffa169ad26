/**
 * Slow and broken request bodies against the real Deno edge, over raw TCP
 * sockets (issue 14 fault 3): a body trickling in at 1 byte/s gets a 408 in
 * the OpenAI error shape once `limits.body_timeout_ms` passes (1 s here), with
 * or without chunked encoding; a chunked body the runtime cannot decode gets
 * a 400 naming the body, not a 500 (or nothing).
 */
import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEdge } from "./support/edge.ts";
import { stopProcesses } from "./support/process.ts";

const KEY = "sk-e2e-slow";

interface Raw {
  socket: Socket;
  /** Everything received so far. */
  received(): string;
  /** Resolves with what was received once a whole response (head and content-length body) is in. */
  response(timeoutMs: number): Promise<{ status: number; headers: string; body: string; ms: number }>;
}

function open(port: number): Raw {
  const socket = connect(port, "127.0.0.1");
  socket.setNoDelay(true);
  socket.on("error", () => {});
  const t0 = performance.now();
  let got = "";
  let wake: (() => void) | null = null;
  socket.on("data", (d: Buffer) => {
    got += d.toString("latin1");
    wake?.();
  });
  const complete = () => {
    const end = got.indexOf("\r\n\r\n");
    if (end < 0) return null;
    const head = got.slice(0, end);
    const len = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
    if (got.length < end + 4 + len) return null;
    return { status: Number(head.split(" ")[1]), headers: head.toLowerCase(), body: got.slice(end + 4, end + 4 + len) };
  };
  return {
    socket,
    received: () => got,
    async response(timeoutMs) {
      const until = performance.now() + timeoutMs;
      for (;;) {
        const r = complete();
        if (r) return { ...r, ms: performance.now() - t0 };
        const left = until - performance.now();
        if (left <= 0) throw new Error(`no complete response within ${timeoutMs} ms; received ${JSON.stringify(got)}`);
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, left);
        });
      }
    },
  };
}

const head = (extra: string) => `POST /v1/chat/completions HTTP/1.1\r\nHost: edge\r\nAuthorization: Bearer ${KEY}\r\nContent-Type: application/json\r\n${extra}\r\n`;

describe("slow and broken request bodies (real Deno edge, raw sockets)", () => {
  let edge: Awaited<ReturnType<typeof startEdge>>;
  let port: number;
  const sockets: Socket[] = [];
  const timers: ReturnType<typeof setInterval>[] = [];

  beforeAll(async () => {
    // No sidecar: none of these requests get past validation.
    edge = await startEdge({ sidecars: ["127.0.0.1:1"], limits: { body_timeout_ms: 1_000 } }, { env: { STEERGUARD_API_KEYS: KEY } });
    port = Number(new URL(edge.url).port);
  });
  afterAll(async () => {
    timers.forEach(clearInterval);
    sockets.forEach((s) => s.destroy());
    await stopProcesses([edge]);
  });

  /** Sends the head, then one byte of body a second, until the test ends. */
  function trickle(extraHead: string, piece: string): Raw {
    const raw = open(port);
    sockets.push(raw.socket);
    raw.socket.write(head(extraHead));
    raw.socket.write(piece);
    timers.push(setInterval(() => raw.socket.writable && raw.socket.write(piece), 1_000));
    return raw;
  }

  it.each([
    ["content-length", "Content-Length: 200\r\n", "{"],
    ["chunked", "Transfer-Encoding: chunked\r\n", "1\r\n{\r\n"],
  ])("a %s body at 1 byte/s gets a 408 in the OpenAI shape at the body timeout", async (_what, extra, piece) => {
    const raw = trickle(extra, piece);
    const res = await raw.response(4_000);
    expect(res.status).toBe(408);
    expect(res.ms).toBeGreaterThanOrEqual(900);
    expect(res.ms).toBeLessThan(3_000);
    expect(res.headers).toContain("connection: close");
    expect(JSON.parse(res.body)).toEqual({
      error: { message: expect.stringMatching(/^body: /), type: "invalid_request_error", param: "body", code: "body_timeout" },
    });
  });

  it("a chunked body the runtime cannot decode gets a 400 naming the body", async () => {
    const raw = open(port);
    sockets.push(raw.socket);
    raw.socket.write(head("Transfer-Encoding: chunked\r\n"));
    // The head first, so the request reaches the edge; then a chunk size that is not hex.
    await new Promise((r) => setTimeout(r, 200));
    raw.socket.write("zz\r\n{}\r\n0\r\n\r\n");
    const res = await raw.response(3_000);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toEqual({
      error: { message: expect.stringMatching(/^body: /), type: "invalid_request_error", param: "body", code: "invalid_body" },
    });
  });

  it("serves normally afterwards", async () => {
    const r = await fetch(`${edge.url}/healthz`);
    expect(r.status).toBe(200);
    const bad = await fetch(`${edge.url}/v1/chat/completions`, { method: "POST", headers: { authorization: `Bearer ${KEY}` }, body: "{}" });
    expect(bad.status).toBe(400);
  });
});
