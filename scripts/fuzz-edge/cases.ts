/**
 * The fuzzer's generated requests. `makeCase(seed, index, ctx)` builds case
 * `index` of a run from its own seeded generator (rng.ts), choosing one of
 * the FAMILIES below, aimed at one of the three generation endpoints
 * (endpoints.ts: each one's base body, fields and wire-format mutations).
 * Cases go either through fetch (well-framed HTTP with
 * odd bodies, types, sizes, encodings, content-types, methods and paths) or
 * as raw bytes over a socket (what fetch cannot send: malformed framing,
 * duplicate or invalid headers, chunked bodies cut or corrupted, truncated
 * bodies, pipelining).
 */
import { baseBody, endpointOf, ENDPOINT_PATHS, ENDPOINTS, INPUT_FIELD, setField, setText, turns, wireMutation, type Endpoint } from "./endpoints.ts";
import { Rng } from "./rng.ts";

export interface FetchCase {
  transport: "fetch";
  method: string;
  path: string;
  headers: [string, string][];
  /** A body, or chunks sent as a chunked stream. */
  body?: Uint8Array | { chunks: Uint8Array[] };
}

export interface RawCase {
  transport: "raw";
  /** Written in order, a short pause between them (so they arrive as separate packets). */
  packets: Uint8Array[];
  /**
   * Half-close after the last packet, for requests cut short on purpose.
   * Otherwise the socket stays open until the answer or the deadline: the
   * runtime (hyper, without half-close support) drops a request whose client
   * half-closed before the answer, which would hide the edge's answer.
   */
  end: boolean;
}

export type FuzzCase = (FetchCase | RawCase) & {
  index: number;
  family: string;
  name: string;
  /** The generation endpoint the request is aimed at ("other" for another path). */
  endpoint: Endpoint | "other";
  /** The fields a mutation touched (the rest of the body is valid): a 400 must name one of them in `param`. */
  fields?: string[];
};

export interface CaseContext {
  /** host:port of the edge, for the Host header. */
  host: string;
  /** A valid API key. */
  key: string;
  /** The configured body cap (bytes), to aim sizes around it. */
  maxBodyBytes: number;
}

const enc = new TextEncoder();
const bytes = (s: string) => enc.encode(s);
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};


function oddValue(rng: Rng): unknown {
  return rng.pick<() => unknown>([
    () => null,
    () => true,
    () => false,
    () => 0,
    () => -1,
    () => 1.5,
    () => "",
    () => "x",
    () => [],
    () => {},
    () => [null],
    () => [{}],
    () => ({ type: "text" }),
    () => [{ type: "image_url", image_url: { url: "http://x" } }],
    () => [{ type: "text", text: 5 }],
    () => ({ "": { "": [] } }),
    () => "a".repeat(rng.size(100_000)),
    () => Array.from({ length: rng.size(5000) }, (_, i) => i),
    () => ({ __proto__: { polluted: true }, constructor: { prototype: { polluted: true } } }),
    () => "\u0000",
    () => "\ud800",
    () => "NaN",
    () => "1e309",
  ])();
}

/** JSON text of `body` with `"@@RAW@@"` placeholders replaced by raw JSON tokens (numbers JSON.stringify cannot write). */
function jsonWithRaw(body: unknown, raw: string): string {
  return JSON.stringify(body).replace('"@@RAW@@"', raw);
}

const RAW_NUMBERS = ["1e309", "-1e309", "1e-400", "-0", "9007199254740993", "18446744073709551616", "0.0000000000000000000001", "1" + "0".repeat(400), "123456789".repeat(100), "1.5e3", "4294967297", "-2147483649", "1E+2", "0e0"];

function nested(depth: number, kind: "array" | "object", leaf: string): string {
  return kind === "array" ? "[".repeat(depth) + leaf + "]".repeat(depth) : '{"a":'.repeat(depth) + leaf + "}".repeat(depth);
}

interface Built {
  name: string;
  c: FetchCase | RawCase;
  fields?: string[];
}

/** The context of one case: its endpoint and that endpoint's path. */
type Ctx = CaseContext & { ep: Endpoint; path: string };
type Family = (rng: Rng, ctx: Ctx) => Built;

const auth = (ctx: CaseContext): [string, string] => ["authorization", `Bearer ${ctx.key}`];
const jsonCt: [string, string] = ["content-type", "application/json"];
const post = (ctx: Ctx, body: Uint8Array | string, extra: [string, string][] = []): FetchCase => ({
  transport: "fetch",
  method: "POST",
  path: ctx.path,
  headers: [auth(ctx), jsonCt, ...extra],
  body: typeof body === "string" ? bytes(body) : body,
});

/** A raw HTTP/1.1 request: head lines (Host added unless `noHost`) and a body. */
function rawRequest(ctx: Ctx, opts: { line?: string; headers?: string[]; body?: Uint8Array; noHost?: boolean; auth?: boolean }): Uint8Array {
  const lines = [opts.line ?? `POST ${ctx.path} HTTP/1.1`];
  if (!opts.noHost) lines.push(`Host: ${ctx.host}`);
  if (opts.auth !== false) lines.push(`Authorization: Bearer ${ctx.key}`);
  lines.push(...(opts.headers ?? []));
  return concat(bytes(lines.join("\r\n") + "\r\n\r\n"), opts.body ?? new Uint8Array(0));
}

function chunked(chunks: Uint8Array[], opts: { ext?: boolean; trailer?: string } = {}): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const c of chunks) parts.push(bytes(`${c.length.toString(16)}${opts.ext ? ";name=value" : ""}\r\n`), c, bytes("\r\n"));
  parts.push(bytes(`0\r\n${opts.trailer ? `${opts.trailer}\r\n` : ""}\r\n`));
  return concat(...parts);
}

function split(rng: Rng, data: Uint8Array, max = 6): Uint8Array[] {
  const n = Math.min(data.length, rng.int(1, max));
  const cuts = new Set<number>();
  while (cuts.size < n - 1) cuts.add(rng.int(1, data.length - 1));
  const at = [0, ...[...cuts].sort((a, b) => a - b), data.length];
  return at.slice(1).map((end, i) => data.subarray(at[i], end));
}

export const FAMILIES: Record<string, Family> = {
  /** The endpoint's own parameters (responses: input items, include, text.format...; completions: prompt forms, echo, best_of...), valid, refused or malformed. */
  "wire": (rng, ctx) => {
    const body = baseBody(rng, ctx.ep);
    const fields = wireMutation(rng, ctx.ep, body);
    return { name: `${ctx.ep} ${fields.join(", ")}`, c: post(ctx, JSON.stringify(body)), fields };
  },
  /** A field of an otherwise valid request set to a value of the wrong type or shape. */
  "json-type": (rng, ctx) => {
    const body = baseBody(rng, ctx.ep);
    const field = setField(rng, ctx.ep, body, oddValue(rng));
    return { name: `wrong type in ${field}`, c: post(ctx, JSON.stringify(body)), fields: [field] };
  },
  /** Numbers out of range or not representable (Infinity after parsing, -0, past 2^53, 400 digits). */
  "json-number": (rng, ctx) => {
    const body = baseBody(rng, ctx.ep);
    const field = setField(rng, ctx.ep, body, "@@RAW@@");
    const raw = rng.pick(RAW_NUMBERS);
    return { name: `number ${raw.slice(0, 12)} in ${field}`, c: post(ctx, jsonWithRaw(body, raw)), fields: [field] };
  },
  /** Deeply nested arrays or objects, as a field or as the whole body. */
  "json-nesting": (rng, ctx) => {
    const depth = rng.pick([64, 1000, 10_000, 100_000, 400_000]);
    const kind = rng.pick(["array", "object"] as const);
    if (rng.chance(0.3)) return { name: `whole body nested ${kind} ${depth}`, c: post(ctx, nested(depth, kind, "1")) };
    const body = baseBody(rng, ctx.ep);
    const field = setField(rng, ctx.ep, body, "@@RAW@@");
    return { name: `${kind} nested ${depth} in ${field}`, c: post(ctx, jsonWithRaw(body, nested(depth, kind, '"x"'))), fields: [field] };
  },
  /** Sizes around and past the limits: content, message count, model name, unknown fields, the body cap. */
  "json-size": (rng, ctx) => {
    const body = baseBody(rng, ctx.ep);
    const which = rng.int(0, 5);
    if (which === 0) setText(ctx.ep, body, "a".repeat(rng.pick([32_768, 100_000, 300_000, ctx.maxBodyBytes - 200])));
    else if (which === 1) body[INPUT_FIELD[ctx.ep]] = turns(ctx.ep, Array.from({ length: rng.pick([257, 1000, 20_000]) }, () => "hi"));
    else if (which === 2) body.model = "m".repeat(rng.pick([257, 10_000, 500_000]));
    else if (which === 3) body[`x${"k".repeat(rng.size(100_000))}`] = "v".repeat(rng.size(200_000));
    else if (which === 4) body.stop = Array.from({ length: rng.int(5, 1000) }, () => "s".repeat(rng.size(1000)));
    else body.pad = "p".repeat(ctx.maxBodyBytes + rng.int(-100, 1000));
    return { name: `size case ${which}`, c: post(ctx, JSON.stringify(body)) };
  },
  /** Malformed or odd JSON texts. */
  "json-syntax": (rng, ctx) => {
    const good = JSON.stringify(baseBody(rng, ctx.ep));
    const text = rng.pick([
      "",
      " ",
      "null",
      "[]",
      "1",
      '"string"',
      "{",
      good.slice(0, rng.int(1, good.length - 1)),
      good + "}",
      good + good,
      good.replace(/"/g, "'"),
      good.replace("{", "{/* c */"),
      good.replace(/:/, ":NaN,\"x\":"),
      good.replace("{", '{"model":"a","model":"b",'),
      good.replace("{", '{"__proto__":{"admin":true},'),
      "\u00a0" + good,
      good + "\u0000",
      "{\"a\":\"\\u12\"}",
      "{\"a\":\"\\x41\"}",
    ]);
    return { name: "malformed JSON", c: post(ctx, text) };
  },
  /** Encodings: invalid UTF-8, lone surrogates, NUL, BOMs, UTF-16, overlong forms. */
  "encoding": (rng, ctx) => {
    const body = baseBody(rng, ctx.ep);
    const which = rng.int(0, 8);
    const good = JSON.stringify(body);
    const at = good.indexOf("organism260K");
    const splice = (b: Uint8Array) => concat(bytes(good.slice(0, at)), b, bytes(good.slice(at)));
    switch (which) {
      case 0:
        return { name: "invalid UTF-8 byte in a string", c: post(ctx, splice(new Uint8Array([rng.pick([0xff, 0xfe, 0xc0, 0x80, 0xed])]))) };
      case 1:
        return { name: "overlong UTF-8 (C0 AF)", c: post(ctx, splice(new Uint8Array([0xc0, 0xaf]))) };
      case 2:
        return { name: "UTF-8 surrogate bytes (ED A0 80)", c: post(ctx, splice(new Uint8Array([0xed, 0xa0, 0x80]))) };
      case 3: {
        const field = setField(rng, ctx.ep, body, "@@RAW@@");
        return { name: `lone surrogate escape in ${field}`, c: post(ctx, jsonWithRaw(body, rng.pick(['"\\ud800"', '"a\\udc00b"', '"\\udbff\\udbff"']))), fields: [field] };
      }
      case 4: {
        const field = setField(rng, ctx.ep, body, rng.pick(["\u0000", "a\u0000b", "\u0007\u001b[31m", "\u202e\u200b"]));
        return { name: `control characters in ${field}`, c: post(ctx, JSON.stringify(body)), fields: [field] };
      }
      case 5:
        return { name: "UTF-8 BOM before the JSON", c: post(ctx, concat(new Uint8Array([0xef, 0xbb, 0xbf]), bytes(good))) };
      case 6: {
        const u16 = new Uint8Array(good.length * 2 + 2);
        u16.set([0xff, 0xfe]);
        for (let i = 0; i < good.length; i++) u16[2 + i * 2] = good.charCodeAt(i);
        return { name: "UTF-16LE body with BOM", c: post(ctx, u16, [["content-type", "application/json; charset=utf-16"]]) };
      }
      case 7:
        return { name: "truncated multi-byte sequence at the end", c: post(ctx, concat(bytes(good.slice(0, -2)), new Uint8Array([0xe2, 0x82]))) };
      default:
        return { name: "random bytes", c: post(ctx, Uint8Array.from({ length: rng.size(5000) }, () => rng.int(0, 255))) };
    }
  },
  /** Wrong, missing, huge or odd content-types on a valid body. */
  "content-type": (rng, ctx) => {
    const good = JSON.stringify(baseBody(rng, ctx.ep));
    const ct = rng.pick([null, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/json; charset=latin1", "application/json;;;", "application/xml", "*/*", "application/json" + "; a=b".repeat(rng.size(2000)), "\u00e9"]);
    const c = post(ctx, good);
    c.headers = [auth(ctx), ...(ct === null ? [] : [["content-type", ct] as [string, string]])];
    return { name: `content-type ${ct === null ? "missing" : ct.slice(0, 30)}`, c };
  },
  /** Authorization and other headers a client sets, well framed (fetch). */
  "headers": (rng, ctx) => {
    const good = JSON.stringify(baseBody(rng, ctx.ep));
    const which = rng.int(0, 7);
    const headers: [string, string][] = [jsonCt];
    if (which === 0) headers.push(["authorization", rng.pick(["", "Bearer", "Bearer ", `bearer ${ctx.key}`, `Basic ${ctx.key}`, `Bearer ${ctx.key} extra`, `Bearer ${"k".repeat(rng.size(60_000))}`, `Bearer\t${ctx.key}`])]);
    else headers.push(auth(ctx));
    if (which === 1) headers.push(["x-request-id", rng.pick(["", "a b", "x".repeat(rng.size(50_000)), "../../etc/passwd", "id\u00e9"].map((s) => s.replace(/[^\x20-\x7e]/g, "?")))]);
    if (which === 2) for (let i = 0; i < rng.size(300); i++) headers.push([`x-h-${i}`, "v".repeat(rng.size(200))]);
    if (which === 3) headers.push(["x-big", "b".repeat(rng.pick([8_000, 64_000, 200_000]))]);
    if (which === 4) headers.push(["accept", rng.pick(["text/event-stream", "application/xml", "*/*;q=0", ""])], ["accept-encoding", rng.pick(["gzip", "br, zstd", "identity;q=0", "x".repeat(1000)])]);
    if (which === 5) headers.push(["content-encoding", rng.pick(["gzip", "deflate", "br", "x-unknown"])]);
    if (which === 6) headers.push(["origin", "null"], ["x-forwarded-for", "1.1.1.1, ::1, <script>"], ["cookie", "c=" + "v".repeat(rng.size(20_000))]);
    if (which === 7) headers.push(["authorization", `Bearer ${ctx.key}`]);
    return { name: `headers case ${which}`, c: { transport: "fetch", method: "POST", path: ctx.path, headers, body: bytes(good) } };
  },
  /** Other methods and paths: unknown routes, percent-encoding that does not decode, long paths, query strings. */
  "method-path": (rng, ctx) => {
    const method = rng.pick(["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "POST", "PROPFIND"]);
    const path = rng.pick([
      ctx.path,
      "/v1/models",
      "/v1/models/%ff",
      "/v1/models/%",
      "/v1/models/%E0%A4%A",
      "/v1/models/" + "m".repeat(rng.size(20_000)),
      "/v1/models/%00",
      "/v1/models/..%2f..%2fetc%2fpasswd",
      "/%2e%2e/v1/chat/completions",
      `${ctx.path}?x=%ff&y=` + "q".repeat(rng.size(5000)),
      `${ctx.path}/`,
      "//v1//chat//completions",
      "/metrics",
      "/readyz",
      "/healthz?%%",
      "/" + "a/".repeat(rng.size(2000)),
    ]);
    const withBody = method !== "GET" && method !== "HEAD";
    const c: FetchCase = { transport: "fetch", method, path, headers: [auth(ctx), jsonCt], body: withBody ? bytes(JSON.stringify(baseBody(rng, ctx.ep))) : undefined };
    return { name: `${method} ${path.slice(0, 40)}`, c };
  },
  /** A valid body sent as a chunked stream in random pieces (fetch with a ReadableStream). */
  "chunked-stream": (rng, ctx) => {
    const good = bytes(JSON.stringify(baseBody(rng, ctx.ep)));
    return { name: "chunked body in pieces", c: { transport: "fetch", method: "POST", path: ctx.path, headers: [auth(ctx), jsonCt], body: { chunks: split(rng, good, 20) } } };
  },
  /** Malformed request lines, versions and header syntax (raw). */
  "framing": (rng, ctx) => {
    const body = bytes(JSON.stringify(baseBody(rng, ctx.ep)));
    const cl = `Content-Length: ${body.length}`;
    const cases: [string, () => Uint8Array][] = [
      ["garbage request line", () => bytes("GARBAGE\r\n\r\n")],
      ["HTTP/9.9", () => rawRequest(ctx, { line: `POST ${ctx.path} HTTP/9.9`, headers: [cl], body })],
      ["HTTP/1.0 without Host", () => rawRequest(ctx, { line: `POST ${ctx.path} HTTP/1.0`, headers: [cl], body, noHost: true })],
      ["HTTP/1.1 without Host", () => rawRequest(ctx, { headers: [cl], body, noHost: true })],
      ["absolute-form target", () => rawRequest(ctx, { line: `POST http://${ctx.host}${ctx.path} HTTP/1.1`, headers: [cl], body })],
      ["lowercase method", () => rawRequest(ctx, { line: `post ${ctx.path} HTTP/1.1`, headers: [cl], body })],
      ["space in the target", () => rawRequest(ctx, { line: `POST /v1/chat completions HTTP/1.1`, headers: [cl], body })],
      ["header without colon", () => rawRequest(ctx, { headers: [cl, "NoColonHere"], body })],
      ["space before colon", () => rawRequest(ctx, { headers: [cl, "X-A : b"], body })],
      ["obs-fold continuation", () => rawRequest(ctx, { headers: [cl, "X-A: b", " folded"], body })],
      ["NUL in a header value", () => rawRequest(ctx, { headers: [cl, "X-A: a\u0000b"], body })],
      ["bare CR in a header value", () => rawRequest(ctx, { headers: [cl, "X-A: a\rb"], body })],
      ["LF-only line ends", () => bytes(`POST ${ctx.path} HTTP/1.1\nHost: ${ctx.host}\nAuthorization: Bearer ${ctx.key}\n${cl}\n\n${new TextDecoder().decode(body)}`)],
      ["Latin-1 bytes in a header value", () => concat(bytes(`POST ${ctx.path} HTTP/1.1\r\nHost: ${ctx.host}\r\nAuthorization: Bearer ${ctx.key}\r\nX-Name: `), new Uint8Array([0xe9, 0xff, 0x80]), bytes(`\r\n${cl}\r\n\r\n`), body)],
      ["Latin-1 bytes in the API key", () => concat(bytes(`POST ${ctx.path} HTTP/1.1\r\nHost: ${ctx.host}\r\nAuthorization: Bearer `), new Uint8Array([0xe9, 0xff]), bytes(`\r\n${cl}\r\n\r\n`), body)],
      ["invalid byte in the path", () => concat(bytes("POST /v1/"), new Uint8Array([0xff]), bytes(` HTTP/1.1\r\nHost: ${ctx.host}\r\n${cl}\r\n\r\n`), body)],
      ["duplicate Content-Length", () => rawRequest(ctx, { headers: [cl, `Content-Length: ${body.length + 1}`], body })],
      ["negative Content-Length", () => rawRequest(ctx, { headers: ["Content-Length: -1"], body })],
      ["non-numeric Content-Length", () => rawRequest(ctx, { headers: ["Content-Length: 12abc"], body })],
      ["huge Content-Length", () => rawRequest(ctx, { headers: ["Content-Length: 99999999999999999999999"], body })],
      ["Content-Length and chunked", () => rawRequest(ctx, { headers: [cl, "Transfer-Encoding: chunked"], body: chunked([body]) })],
      ["unknown Transfer-Encoding", () => rawRequest(ctx, { headers: ["Transfer-Encoding: gzip"], body })],
      ["chunked, chunked", () => rawRequest(ctx, { headers: ["Transfer-Encoding: chunked, chunked"], body: chunked([body]) })],
      ["duplicate Authorization", () => rawRequest(ctx, { headers: [cl, `Authorization: Bearer ${ctx.key}`], body })],
      ["duplicate Content-Type", () => rawRequest(ctx, { headers: [cl, "Content-Type: application/json", "Content-Type: text/plain"], body })],
      ["duplicate X-Request-Id", () => rawRequest(ctx, { headers: [cl, "X-Request-Id: a", "X-Request-Id: b"], body })],
      ["a 1 MB header", () => rawRequest(ctx, { headers: [cl, `X-Big: ${"b".repeat(1_000_000)}`], body })],
      ["2,000 headers", () => rawRequest(ctx, { headers: [cl, ...Array.from({ length: 2000 }, (_, i) => `X-${i}: v`)], body })],
      ["a 100 KB target", () => rawRequest(ctx, { line: `POST ${ctx.path}?${"q".repeat(100_000)} HTTP/1.1`, headers: [cl], body })],
      ["head cut short, then EOF", () => rawRequest(ctx, { headers: [cl], body }).subarray(0, rng.int(1, 40))],
      ["two requests pipelined", () => concat(rawRequest(ctx, { headers: [cl], body }), rawRequest(ctx, { headers: [cl], body }))],
      ["request then garbage", () => concat(rawRequest(ctx, { headers: [cl], body }), bytes("\u0000\u0001GARBAGE\r\n\r\n"))],
      ["Expect: 100-continue", () => rawRequest(ctx, { headers: [cl, "Expect: 100-continue"], body })],
      ["Expect: something else", () => rawRequest(ctx, { headers: [cl, "Expect: 42-weird"], body })],
      ["Connection: upgrade to websocket", () => rawRequest(ctx, { headers: [cl, "Connection: Upgrade", "Upgrade: websocket"], body })],
      ["h2c upgrade", () => rawRequest(ctx, { headers: [cl, "Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c", "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA"], body })],
      // An HTTP/2 connection preface: the runtime speaks h2 (prior knowledge) and waits for SETTINGS, so without EOF it would wait like any unfinished head.
      ["HTTP/2 preface, then EOF", () => bytes("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")],
      ["TLS client hello", () => new Uint8Array([0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00])],
    ];
    const [name, build] = rng.pick(cases);
    return { name, c: { transport: "raw", packets: [build()], end: name.endsWith("then EOF") } };
  },
  /** Chunked bodies over a raw socket: valid with extensions or trailers, malformed sizes, cut short. */
  "chunked-raw": (rng, ctx) => {
    const body = bytes(JSON.stringify(baseBody(rng, ctx.ep)));
    const head = rawRequest(ctx, { headers: ["Transfer-Encoding: chunked", "Content-Type: application/json"] });
    const which = rng.int(0, 7);
    const pieces = split(rng, body);
    let payload: Uint8Array;
    let name: string;
    let end = false;
    switch (which) {
      case 0:
        (payload = chunked(pieces)), (name = "valid chunked");
        break;
      case 1:
        (payload = chunked(pieces, { ext: true, trailer: "X-Trailer: t" })), (name = "chunk extensions and a trailer");
        break;
      case 2:
        (payload = concat(bytes("zz\r\n"), body, bytes("\r\n0\r\n\r\n"))), (name = "non-hex chunk size");
        break;
      case 3:
        (payload = concat(bytes("ffffffffffffffffff\r\n"), body)), (name = "chunk size overflow");
        break;
      case 4:
        (payload = concat(bytes(`${(body.length + 50).toString(16)}\r\n`), body)), (name = "chunk shorter than its size, then EOF");
        end = true;
        break;
      case 5:
        (payload = concat(bytes(`${body.length.toString(16)}\r\n`), body, bytes("XX"))), (name = "no CRLF after the chunk, then EOF");
        end = true;
        break;
      case 6:
        (payload = chunked(pieces).subarray(0, rng.int(1, body.length))), (name = "chunked body cut short, connection left open");
        end = false;
        break;
      default:
        (payload = concat(bytes("-5\r\n"), body, bytes("\r\n0\r\n\r\n"))), (name = "negative chunk size");
    }
    // The head first, then the body in its own packet (as real clients send it).
    return { name, c: { transport: "raw", packets: [head, ...split(rng, payload, 3)], end } };
  },
  /** Content-Length bodies cut short: EOF mid-body, or the connection left open (the body deadline answers). */
  "truncated": (rng, ctx) => {
    const body = bytes(JSON.stringify(baseBody(rng, ctx.ep)));
    const cut = rng.int(0, body.length - 1);
    const open = rng.chance(0.3);
    const head = rawRequest(ctx, { headers: [`Content-Length: ${body.length + rng.int(0, 5000)}`, "Content-Type: application/json"] });
    return { name: open ? "body cut short, connection left open" : "body cut short, then EOF", c: { transport: "raw", packets: [head, body.subarray(0, cut)], end: !open } };
  },
};

/** How often each family is drawn. */
const WEIGHTS: [string, number][] = [
  ["wire", 20],
  ["json-type", 16],
  ["json-number", 8],
  ["json-nesting", 6],
  ["json-size", 6],
  ["json-syntax", 8],
  ["encoding", 10],
  ["content-type", 6],
  ["headers", 8],
  ["method-path", 8],
  ["chunked-stream", 4],
  ["framing", 12],
  ["chunked-raw", 6],
  ["truncated", 4],
];
const TOTAL = WEIGHTS.reduce((n, [, w]) => n + w, 0);

/** Case `index` of the run seeded `seed`. */
export function makeCase(seed: number, index: number, ctx: CaseContext): FuzzCase {
  const rng = Rng.forCase(seed, index);
  let r = rng.next() * TOTAL;
  let family = WEIGHTS[0]![0];
  for (const [name, w] of WEIGHTS) {
    if ((r -= w) < 0) {
      family = name;
      break;
    }
  }
  const ep = rng.pick(ENDPOINTS);
  const built = FAMILIES[family]!(rng, { ...ctx, ep, path: ENDPOINT_PATHS[ep] });
  const endpoint = built.c.transport === "fetch" ? (endpointOf(built.c.path) ?? "other") : ep;
  return { ...built.c, index, family, name: built.name, endpoint, fields: built.fields };
}
