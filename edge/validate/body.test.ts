import { describe, expect, it } from "vitest";
import { readBody } from "./body.ts";

const enc = new TextEncoder();
const streamed = (body: ReadableStream<Uint8Array>) => new Request("http://x/", { method: "POST", body, duplex: "half" } as RequestInit);

describe("readBody", () => {
  it("reads a body within the cap, whole", async () => {
    const r = await readBody(new Request("http://x/", { method: "POST", body: "abc" }), 5, 1_000);
    expect(r.ok && new TextDecoder().decode(r.bytes)).toBe("abc");
    const parts = await readBody(streamed(new ReadableStream({ start: (c) => (c.enqueue(enc.encode("ab")), c.enqueue(enc.encode("cd")), c.close()) })), 5, 1_000);
    expect(parts.ok && new TextDecoder().decode(parts.bytes)).toBe("abcd");
    expect(await readBody(new Request("http://x/", { method: "POST" }), 5, 1_000)).toMatchObject({ ok: true, bytes: new Uint8Array(0) });
  });

  it("413 past the cap, whether or not content-length is given", async () => {
    expect(await readBody(new Request("http://x/", { method: "POST", body: "x".repeat(10) }), 5, 1_000)).toMatchObject({ ok: false, status: 413, code: "body_too_large" });
    const unsized = streamed(new ReadableStream({ start: (c) => (c.enqueue(enc.encode("abc")), c.enqueue(enc.encode("def")), c.close()) }));
    expect(await readBody(unsized, 5, 1_000)).toMatchObject({ ok: false, status: 413 });
  });

  it("408 at the deadline for a body that trickles or stalls, and cancels it", async () => {
    let cancelled = false;
    let timer: ReturnType<typeof setInterval> | undefined;
    const trickle = new ReadableStream<Uint8Array>({
      start(c) {
        timer = setInterval(() => c.enqueue(enc.encode("x")), 10);
      },
      cancel() {
        clearInterval(timer);
        cancelled = true;
      },
    });
    const t0 = performance.now();
    expect(await readBody(streamed(trickle), 1_000_000, 80)).toMatchObject({ ok: false, status: 408, code: "body_timeout" });
    expect(performance.now() - t0).toBeLessThan(500);
    expect(cancelled).toBe(true);
  });

  it("400 for a body the runtime cannot read; a read failing after the deadline is not an unhandled rejection", async () => {
    const broken = streamed(new ReadableStream({ pull: (c) => c.error(new Error("invalid chunk size line")) }));
    expect(await readBody(broken, 100, 1_000)).toEqual({ ok: false, status: 400, message: "body: the request body could not be read (invalid chunk size line)", code: "invalid_body" });
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on("unhandledRejection", onUnhandled);
    try {
      let fail: (err: Error) => void = () => {};
      const late = streamed(new ReadableStream({ start: (c) => void (fail = (err) => c.error(err)) }));
      expect(await readBody(late, 100, 20)).toMatchObject({ status: 408 });
      fail(new Error("connection reset"));
      await new Promise((r) => setTimeout(r, 20));
      expect(unhandled).toEqual([]);
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  });
});
