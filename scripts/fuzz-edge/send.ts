/**
 * Sends one fuzz case over a real socket and reports what came back:
 * a response (status, headers, body), the connection closed with no
 * response, or nothing within the deadline (a hang). Raw cases are written
 * with node:net and their answer parsed here (the first response on the
 * connection); fetch cases go through Node's fetch.
 */
import net from "node:net";
import type { FetchCase, FuzzCase, RawCase } from "./cases.ts";

export type Outcome =
  | { kind: "response"; status: number; headers: Record<string, string>; body: Uint8Array }
  | { kind: "closed"; detail: string }
  | { kind: "hang" };

/** Between packets: long enough that the head has reached the edge's handler before the body follows. */
const PAUSE_MS = 50;

export function send(c: FuzzCase, base: URL, deadlineMs: number): Promise<Outcome> {
  return c.transport === "raw" ? sendRaw(c, base, deadlineMs) : sendFetch(c, base, deadlineMs);
}

async function sendFetch(c: FetchCase, base: URL, deadlineMs: number): Promise<Outcome> {
  const signal = AbortSignal.timeout(deadlineMs);
  let body: RequestInit["body"];
  if (c.body instanceof Uint8Array) body = c.body;
  else if (c.body) {
    const chunks = c.body.chunks;
    body = new ReadableStream<Uint8Array>({
      async pull(ctrl) {
        const next = chunks.shift();
        if (next) ctrl.enqueue(next);
        else ctrl.close();
        await new Promise((r) => setTimeout(r, 2));
      },
    });
  }
  try {
    const res = await fetch(`${base.origin}${c.path}`, { method: c.method, headers: c.headers, body, signal, duplex: "half" } as RequestInit);
    const bytes = new Uint8Array(await res.arrayBuffer());
    return { kind: "response", status: res.status, headers: Object.fromEntries(res.headers), body: bytes };
  } catch (err) {
    if (signal.aborted) return { kind: "hang" };
    const e = err as Error & { cause?: { code?: string; message?: string } };
    return { kind: "closed", detail: `${e.message}${e.cause ? ` (${e.cause.code ?? e.cause.message})` : ""}` };
  }
}

function sendRaw(c: RawCase, base: URL, deadlineMs: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = net.connect(Number(base.port), base.hostname);
    socket.setNoDelay(true);
    let buf = Buffer.alloc(0);
    let done = false;
    const finish = (o: Outcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(o);
    };
    const timer = setTimeout(() => finish(parseResponse(buf, true) ?? { kind: "hang" }), deadlineMs);
    socket.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const r = parseResponse(buf, false);
      if (r) finish(r);
    });
    // A reset after the server answered (it closes while we still write) keeps the answer.
    const closed = (detail: string) => finish(parseResponse(buf, true) ?? { kind: "closed", detail });
    socket.on("error", (err: NodeJS.ErrnoException) => closed(err.code ?? err.message));
    socket.on("close", () => closed(buf.length ? "incomplete response" : "no bytes"));
    socket.on("connect", async () => {
      for (const [i, p] of c.packets.entries()) {
        if (done) return;
        if (i > 0) await new Promise((r) => setTimeout(r, PAUSE_MS));
        await new Promise<void>((r) => socket.write(p, () => r()));
      }
      if (c.end && !done) socket.end();
    });
  });
}

/**
 * The first HTTP/1.x response in `buf`, or null while it is incomplete.
 * With `eof`, a response whose body runs to the end of the connection (no
 * length, not chunked) is complete, and an incomplete one is null.
 */
export function parseResponse(buf: Buffer, eof: boolean): Outcome | null {
  const headEnd = buf.indexOf("\r\n\r\n");
  if (headEnd < 0) return null;
  const lines = buf.subarray(0, headEnd).toString("latin1").split("\r\n");
  const m = /^HTTP\/\d\.\d (\d{3})/.exec(lines[0]!);
  if (!m) return { kind: "response", status: 0, headers: { "x-fuzz-unparsed": lines[0]!.slice(0, 80) }, body: new Uint8Array(0) };
  const status = Number(m[1]);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(":");
    if (i > 0) {
      const k = line.slice(0, i).trim().toLowerCase();
      headers[k] = headers[k] === undefined ? line.slice(i + 1).trim() : `${headers[k]}, ${line.slice(i + 1).trim()}`;
    }
  }
  // 1xx (100 Continue) is not the answer: parse past it.
  if (status >= 100 && status < 200) return parseResponse(buf.subarray(headEnd + 4), eof);
  const rest = buf.subarray(headEnd + 4);
  if (status === 204 || status === 304) return { kind: "response", status, headers, body: new Uint8Array(0) };
  if (/chunked/i.test(headers["transfer-encoding"] ?? "")) {
    const body = dechunk(rest);
    return body ? { kind: "response", status, headers, body } : null;
  }
  if (headers["content-length"] !== undefined) {
    const n = Number(headers["content-length"]);
    return rest.length >= n ? { kind: "response", status, headers, body: new Uint8Array(rest.subarray(0, n)) } : null;
  }
  return eof ? { kind: "response", status, headers, body: new Uint8Array(rest) } : null;
}

function dechunk(buf: Buffer): Uint8Array | null {
  const parts: Buffer[] = [];
  let o = 0;
  for (;;) {
    const eol = buf.indexOf("\r\n", o);
    if (eol < 0) return null;
    const size = parseInt(buf.subarray(o, eol).toString("latin1"), 16);
    if (Number.isNaN(size)) return null;
    if (size === 0) return Buffer.concat(parts);
    if (buf.length < eol + 2 + size + 2) return null;
    parts.push(buf.subarray(eol + 2, eol + 2 + size));
    o = eol + 2 + size + 2;
  }
}
