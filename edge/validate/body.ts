/**
 * Reads a request body with a size cap and a deadline. A body larger than the
 * cap is 413, one not received within the deadline (a client trickling bytes,
 * or stalled) is 408, and one the runtime cannot read (a malformed chunked
 * encoding, a connection cut mid-body) is 400: never an unhandled error, and
 * never a read left waiting on the client.
 */

export type BodyRead = { ok: true; bytes: Uint8Array } | { ok: false; status: 400 | 408 | 413; message: string; code: string };

type Reader = ReadableStreamDefaultReader<Uint8Array>;

const TIMED_OUT = Symbol("timed out");

export async function readBody(req: Request, maxBytes: number, timeoutMs: number): Promise<BodyRead> {
  const len = req.headers.get("content-length");
  if (len !== null && Number(len) > maxBytes) return tooLarge(maxBytes);
  if (!req.body) return { ok: true, bytes: new Uint8Array(0) };
  const reader = req.body.getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<typeof TIMED_OUT>((resolve) => (timer = setTimeout(() => resolve(TIMED_OUT), timeoutMs)));
  try {
    const parts = await collect(reader, maxBytes, expired);
    if (parts === "too_large") return tooLarge(maxBytes);
    if (parts === TIMED_OUT) return { ok: false, status: 408, message: `body: the request body was not received within ${timeoutMs} ms`, code: "body_timeout" };
    return { ok: true, bytes: concat(parts) };
  } catch (err) {
    const why = String((err as Error)?.message ?? err).slice(0, 200);
    return { ok: false, status: 400, message: `body: the request body could not be read (${why})`, code: "invalid_body" };
  } finally {
    clearTimeout(timer);
  }
}

/** The body's chunks; "too_large" past the cap, TIMED_OUT when `expired` wins. Cancels the body unless it was read to the end. */
async function collect(reader: Reader, maxBytes: number, expired: Promise<typeof TIMED_OUT>): Promise<Uint8Array[] | "too_large" | typeof TIMED_OUT> {
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const read = reader.read();
    // The read outlives a timeout: its later failure must not be an unhandled rejection.
    read.catch(() => {});
    const r = await Promise.race([read, expired]);
    if (r === TIMED_OUT) return stop(reader, TIMED_OUT);
    if (r.done) return parts;
    total += r.value.byteLength;
    if (total > maxBytes) return stop(reader, "too_large");
    parts.push(r.value);
  }
}

function stop<T>(reader: Reader, result: T): T {
  reader.cancel().catch(() => {});
  return result;
}

function tooLarge(maxBytes: number): BodyRead {
  return { ok: false, status: 413, message: `body: the request body is larger than ${maxBytes} bytes`, code: "body_too_large" };
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}
