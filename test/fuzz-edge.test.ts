/**
 * A short run of the edge fuzzer (`npm run fuzz:edge`, scripts/fuzz-edge/):
 * 150 generated malformed requests against the real edge under Deno (fake
 * sidecar), over real sockets, spread over chat completions, responses and
 * legacy completions. Goals: no 5xx, no crash, no hang, every error body the
 * edge's JSON (except the runtime's own parser errors) with `type` and a
 * `param` naming the field at fault, and every 2xx in its endpoint's wire
 * format (streams event by event).
 */
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeCase, type FuzzCase } from "../scripts/fuzz-edge/cases.ts";
import { checkError, checkSuccess } from "../scripts/fuzz-edge/answer.ts";
import { ENDPOINT_PATHS, ENDPOINTS, type Endpoint } from "../scripts/fuzz-edge/endpoints.ts";
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
    expect(new Set(a.map((c) => c.endpoint))).toEqual(new Set([...ENDPOINTS, "other"]));
  });

  it("150 malformed requests over the three endpoints: 0 5xx, 0 crashes, 0 hangs, well-formed answers, only the runtime's own non-JSON errors", async () => {
    const r = await runFuzz({
      seed: 14,
      count: 150,
      concurrency: 8,
      deadlineMs: 5_000,
      base: target.url,
      ctx: { host: target.url.host, key: target.key, maxBodyBytes: target.maxBodyBytes },
      alive: target.alive,
    });
    const bad = r.findings.filter((f) => f.verdict !== "runtime-parser" && f.verdict !== "closed");
    expect(bad).toEqual([]);
    expect(r).toMatchObject({ requests: 150, crashes: 0, goalMet: true });
    expect(r.counts["5xx"] + r.counts.hang + r.counts["non-json-error"] + r.counts["bad-answer"] + r.counts["bad-error"]).toBe(0);
    // Each endpoint answered, streamed, and blamed a field at fault.
    for (const ep of ENDPOINTS) {
      expect(r.endpoints[ep]!.requests, ep).toBeGreaterThan(30);
      expect(r.endpoints[ep]!["2xx"], ep).toBeGreaterThan(0);
      expect(r.endpoints[ep]!.streams, ep).toBeGreaterThan(0);
      expect(r.endpoints[ep]!.blamed, ep).toBeGreaterThan(0);
    }
    // It did reach the edge's own answers as well as the runtime's parser.
    expect(r.counts.ok).toBeGreaterThan(100);
    expect(r.statuses["400"]).toBeGreaterThan(0);
    expect(target.alive()).toBe(true);
    expect((await fetch(new URL("/healthz", target.url))).status).toBe(200);
  });

  it("the oracle flags what the goals forbid: a plain-text error, an error without type / param, a 5xx, no answer", async () => {
    // A stand-in server that misbehaves on purpose, one way per path.
    const server: Server = createServer((req, res) => {
      if (req.url === "/text") res.writeHead(400, { "content-type": "text/plain" }).end("Bad Request");
      else if (req.url === "/crash") res.writeHead(500, { "content-type": "text/plain" }).end("Internal Server Error");
      else if (req.url === "/json") res.writeHead(400, { "content-type": "application/json" }).end('{"error":{"message":"m","type":"invalid_request_error","param":null}}');
      else if (req.url === "/bare") res.writeHead(400, { "content-type": "application/json" }).end('{"error":{"message":"m"}}');
      // "/hang": never answers
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const base = new URL(`http://127.0.0.1:${(server.address() as { port: number }).port}`);
    const verdict = async (path: string, raw = false) =>
      judge(
        await send(
          raw
            ? { index: 0, family: "t", name: "t", endpoint: "other", transport: "raw", packets: [new TextEncoder().encode(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`)], end: false }
            : { index: 0, family: "t", name: "t", endpoint: "other", transport: "fetch", method: "GET", path, headers: [] },
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
      expect(await verdict("/bare")).toBe("bad-error");
      expect(await verdict("/hang")).toBe("hang");
      expect(await verdict("/hang", true)).toBe("hang");
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it("the answer checks pass the edge's real streams and bodies, and fail them cut, reordered or renamed", async () => {
    const bodies: Record<Endpoint, object> = {
      chat: { model: "organism260K", messages: [{ role: "user", content: "Hello" }], max_tokens: 4 },
      responses: { model: "organism260K", input: "Hello", max_output_tokens: 4 },
      completions: { model: "organism260K", prompt: "Hello", max_tokens: 4 },
    };
    for (const ep of ENDPOINTS) {
      for (const stream of [false, true]) {
        const res = await fetch(new URL(ENDPOINT_PATHS[ep], target.url), {
          method: "POST",
          headers: { authorization: `Bearer ${target.key}`, "content-type": "application/json" },
          body: JSON.stringify({ ...bodies[ep], stream }),
        });
        const ct = res.headers.get("content-type") ?? "";
        const text = await res.text();
        expect(res.status, `${ep} stream=${stream}`).toBe(200);
        expect(checkSuccess(ep, ct, text), `${ep} stream=${stream}`).toBeNull();
        if (!stream) {
          const other = ENDPOINTS.find((e) => e !== ep)!;
          expect(checkSuccess(other, ct, text), `${ep} body checked as ${other}`).not.toBeNull();
          continue;
        }
        const frames = text.split("\n\n").filter(Boolean);
        expect(frames.length).toBeGreaterThan(2);
        const cut = frames.slice(0, -1).join("\n\n") + "\n\n";
        const swapped = [frames.at(-1), ...frames.slice(0, -1)].join("\n\n") + "\n\n";
        expect(checkSuccess(ep, ct, cut), `${ep} cut`).not.toBeNull();
        expect(checkSuccess(ep, ct, swapped), `${ep} reordered`).not.toBeNull();
        expect(checkSuccess(ep, ct, text + text), `${ep} twice`).not.toBeNull();
      }
    }
    const error = (param: unknown) => ({ error: { message: "m", type: "invalid_request_error", param, code: null } });
    expect(checkError(400, error("input[0].content[0].text"), ["input"])).toBeNull();
    expect(checkError(400, error("max_tokens"), ["max_tokens", "echo"])).toBeNull();
    expect(checkError(401, error(null))).toBeNull();
    expect(checkError(400, error(null), ["prompt"])).toMatch(/param is null/);
    expect(checkError(400, error("model"), ["suffix"])).toMatch(/not the field at fault/);
    expect(checkError(400, { error: { message: "m", param: null } })).toMatch(/type/);
    expect(checkError(400, { error: { message: "m", type: "t" } })).toMatch(/param/);
  });
});
