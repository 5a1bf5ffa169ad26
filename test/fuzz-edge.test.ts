/**
 * A short run of the edge fuzzer (`npm run fuzz:edge`, scripts/fuzz-edge/):
 * 150 generated malformed requests against the real edge under Deno (fake
 * sidecar), over real sockets. Goals: no 5xx, no crash, no hang, and every
 * error body the edge's JSON, except the runtime's own parser errors.
 */
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeCase, type FuzzCase } from "../scripts/fuzz-edge/cases.ts";
import { judge } from "../scripts/fuzz-edge/oracle.ts";
import { runFuzz } from "../scripts/fuzz-edge/run.ts";
import { send } from "../scripts/fuzz-edge/send.ts";
import { startTarget, type Target } from "../scripts/fuzz-edge/target.ts";

/** A case's bytes, hashed (some are megabytes). */
function digest(c: FuzzCase): string {
  const h = createHash("sha256").update(`${c.family}|${c.name}|${c.transport}`);
  if (c.transport === "raw") for (const p of c.packets) h.update(p).update("|");
  else {
    h.update(`${c.method} ${c.path} ${JSON.stringify(c.headers)}`);
    const body = c.body instanceof Uint8Array ? [c.body] : (c.body?.chunks ?? []);
    for (const p of body) h.update(p).update("|");
  }
  return h.digest("hex");
}

describe("fuzz:edge", () => {
  let target: Target;
  beforeAll(async () => {
    target = await startTarget();
  });
  afterAll(async () => {
    await target?.stop();
  });

  it("the same seed generates the same requests", () => {
    const ctx = { host: "127.0.0.1:1", key: "k", maxBodyBytes: 1000 };
    const cases = (seed: number) => Array.from({ length: 50 }, (_, i) => makeCase(seed, i, ctx));
    const a = cases(7);
    expect(cases(7).map(digest)).toEqual(a.map(digest));
    expect(cases(8).map(digest)).not.toEqual(a.map(digest));
    expect(new Set(a.map((c) => c.family)).size).toBeGreaterThan(8);
  });

  it("150 malformed requests: 0 5xx, 0 crashes, 0 hangs, only the runtime's own non-JSON errors", async () => {
    const r = await runFuzz({
      seed: 14,
      count: 150,
      concurrency: 8,
      deadlineMs: 5_000,
      base: target.url,
      ctx: { host: target.url.host, key: target.key, maxBodyBytes: target.maxBodyBytes },
      alive: target.alive,
    });
    const bad = r.findings.filter((f) => f.verdict === "5xx" || f.verdict === "hang" || f.verdict === "non-json-error");
    expect(bad).toEqual([]);
    expect(r).toMatchObject({ requests: 150, crashes: 0, goalMet: true });
    expect(r.counts["5xx"] + r.counts.hang + r.counts["non-json-error"]).toBe(0);
    // It did reach the edge's own answers as well as the runtime's parser.
    expect(r.counts.ok).toBeGreaterThan(100);
    expect(r.statuses["400"]).toBeGreaterThan(0);
    expect(target.alive()).toBe(true);
    expect((await fetch(new URL("/healthz", target.url))).status).toBe(200);
  });

  it("the oracle flags what the goals forbid: a plain-text error, a 5xx, no answer", async () => {
    // A stand-in server that misbehaves on purpose, one way per path.
    const server: Server = createServer((req, res) => {
      if (req.url === "/text") res.writeHead(400, { "content-type": "text/plain" }).end("Bad Request");
      else if (req.url === "/crash") res.writeHead(500, { "content-type": "text/plain" }).end("Internal Server Error");
      else if (req.url === "/json") res.writeHead(400, { "content-type": "application/json" }).end('{"error":{"message":"m"}}');
      // "/hang": never answers
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const base = new URL(`http://127.0.0.1:${(server.address() as { port: number }).port}`);
    const verdict = async (path: string, raw = false) =>
      judge(
        await send(
          raw
            ? { index: 0, family: "t", name: "t", transport: "raw", packets: [new TextEncoder().encode(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`)], end: false }
            : { index: 0, family: "t", name: "t", transport: "fetch", method: "GET", path, headers: [] },
          base,
          300,
        ),
        "GET",
      );
    try {
      expect(await verdict("/text")).toBe("non-json-error");
      expect(await verdict("/text", true)).toBe("non-json-error");
      expect(await verdict("/crash")).toBe("5xx");
      expect(await verdict("/json", true)).toBe("ok");
      expect(await verdict("/hang")).toBe("hang");
      expect(await verdict("/hang", true)).toBe("hang");
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
