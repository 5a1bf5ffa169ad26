/**
 * An HTTP client for the suite that records what each request did, as a
 * client would see it, on any of the three generation endpoints (wire.ts):
 * the status and headers, and for a stream how it ended (its format's end:
 * `[DONE]` or `response.completed` / `.incomplete`; an error frame or error
 * event; cut off silently; or nothing at all past its deadline: a hang). It
 * keeps the whole answer, which the tally checks against the endpoint's
 * wire format, and the route the suite expects for the prompt (routes.ts).
 * Every request carries its own `x-request-id`, which the edge uses as the
 * decision event's request id, so the events file can be checked request by
 * request.
 */
import { randomBytes } from "node:crypto";
import type { Timing } from "./config.ts";
import type { Route, Router } from "./routes.ts";
import { ENDPOINT_PATHS, readAnswer, readFrame, requestBody, type Endpoint, type Frame, type WireError } from "./wire.ts";
import { sseEvents } from "../fuzz-edge/answer.ts";

export type End =
  /** a non-streamed answer, read whole */
  | "json"
  /** a stream that ended with its format's success end ([DONE], response.completed / .incomplete) */
  | "done"
  /** a stream that ended with an error frame (chat, completions) or error event (responses) */
  | "error-frame"
  /** a stream whose body ended with neither */
  | "cut"
  /** no answer, or no end of the stream, by the hang limit */
  | "hang"
  /** the connection failed (refused, reset) */
  | "conn-error"
  /** we aborted it on purpose (client disconnect) */
  | "aborted";

export interface Outcome {
  id: string;
  /** The endpoint it went to; undefined for raw-socket requests that are not judged on their answer. */
  endpoint?: Endpoint;
  stream: boolean;
  /** The route the suite expects (routes.ts); null for a raw body. */
  expectedRoute: Route | null;
  status: number | null;
  retryAfter: string | null;
  /** x-steerguard-route: present once the request reached routing. */
  route: string | null;
  end: End;
  /** Streamed or returned text. */
  text: string;
  finishReason: string | null;
  /** The error object of an error event or an error body. */
  error: WireError | null;
  /** ms from sending to the response head, to the first content chunk, and to the end. */
  headMs: number | null;
  firstChunkMs: number | null;
  ms: number;
  /** Whether the edge should have written a decision event for it (it reached routing). */
  expectEvent: boolean;
  /** Body text (at most 2 KB) for non-streamed answers. */
  body: string;
  /** Length of the whole non-streamed body, in characters. */
  bodyChars: number;
  /** Response headers and the whole body (a stream's every frame), for the wire check; absent when not read whole. */
  wire?: { headers: Record<string, string>; body: string };
  detail?: string;
}

/** An outcome before anything is known: no answer yet ("hang" until one comes). */
export function newOutcome(id: string, stream: boolean, endpoint?: Endpoint): Outcome {
  return {
    id, endpoint, stream, expectedRoute: null, status: null, retryAfter: null, route: null, end: "hang", text: "", finishReason: null, error: null,
    headMs: null, firstChunkMs: null, ms: 0, expectEvent: false, body: "", bodyChars: 0,
  };
}

export interface RequestOptions {
  /** Default chat. */
  endpoint?: Endpoint;
  content?: string;
  /** Several turns (see wire.ts requestBody for the other endpoints). */
  messages?: Array<{ role: string; content: string; [k: string]: unknown }>;
  stream?: boolean;
  maxTokens?: number;
  temperature?: number;
  seed?: number;
  stop?: string[];
  model?: string;
  /** Extra body fields (they win over the ones above). */
  extra?: Record<string, unknown>;
  /** Sent as is instead of the JSON built from the options. */
  rawBody?: string;
  /** Request id prefix. */
  tag?: string;
  /** Past this many ms without an end, the request is a hang (default deadline + margin). */
  hangMs?: number;
  /** Abort (disconnect) once the first content chunk has arrived. */
  abortAfterFirstChunk?: boolean;
  /** Abort (disconnect) this many ms after sending. */
  abortAfterMs?: number;
}

export interface Pending {
  id: string;
  /** Resolves true at the first content chunk (or answer head of a non-stream), false if the request ended first. */
  firstChunk: Promise<boolean>;
  done: Promise<Outcome>;
  /** Disconnects now. */
  abort(): void;
}

const DEFAULT_PROMPT = "Tell me a story about a dog";
/** After a stream's end, how long the edge may take to close the body. */
const CLOSE_MS = 1_000;

let counter = 0;

export class Client {
  constructor(
    readonly url: string,
    readonly key: string,
    readonly timing: Timing,
    private readonly signal?: AbortSignal,
    private readonly router?: Router,
  ) {}

  /** The default hang limit: the edge's deadline plus the suite's margin. */
  get hangMs(): number {
    return this.timing.deadlineMs + this.timing.hangMarginMs;
  }

  send(opts: RequestOptions): Promise<Outcome> {
    return this.start(opts).done;
  }

  start(opts: RequestOptions): Pending {
    const endpoint = opts.endpoint ?? "chat";
    const id = `chaos-${opts.tag ?? "req"}-${++counter}-${randomBytes(3).toString("hex")}`;
    const stream = opts.stream ?? false;
    const content = opts.content ?? DEFAULT_PROMPT;
    const body =
      opts.rawBody ??
      JSON.stringify({
        ...requestBody(endpoint, { model: opts.model ?? "organism260K", content, messages: opts.messages, stream, maxTokens: opts.maxTokens, temperature: opts.temperature, seed: opts.seed, stop: opts.stop }),
        ...opts.extra,
      });
    const ctl = new AbortController();
    let why: "hang" | "aborted" | null = null;
    const abortAs = (w: "hang" | "aborted") => {
      if (!why) why = w;
      ctl.abort();
    };
    const onOuter = () => abortAs("aborted");
    this.signal?.addEventListener("abort", onOuter, { once: true });
    const hang = setTimeout(() => abortAs("hang"), opts.hangMs ?? this.hangMs);
    const byTime = opts.abortAfterMs !== undefined ? setTimeout(() => abortAs("aborted"), opts.abortAfterMs) : undefined;
    let firstSeen!: (v: boolean) => void;
    const firstChunk = new Promise<boolean>((r) => (firstSeen = r));
    const t0 = performance.now();
    const o = newOutcome(id, stream, endpoint);
    if (!opts.rawBody && this.router) o.expectedRoute = this.router.ofTurns(scoredTurns(endpoint, content, opts.messages)).route;
    const onText = () => {
      if (o.firstChunkMs !== null) return;
      o.firstChunkMs = performance.now() - t0;
      firstSeen(true);
      if (opts.abortAfterFirstChunk) abortAs("aborted");
    };
    const run = async (): Promise<Outcome> => {
      try {
        const res = await fetch(`${this.url}${ENDPOINT_PATHS[endpoint]}`, {
          method: "POST",
          headers: { authorization: `Bearer ${this.key}`, "content-type": "application/json", "x-request-id": id },
          body,
          signal: ctl.signal,
        });
        o.headMs = performance.now() - t0;
        o.status = res.status;
        o.retryAfter = res.headers.get("retry-after");
        o.route = res.headers.get("x-steerguard-route");
        o.expectEvent = res.headers.has("x-steerguard-arm");
        const headers = Object.fromEntries(res.headers);
        if (!(headers["content-type"] ?? "").includes("text/event-stream")) {
          const text = await res.text();
          o.wire = { headers, body: text };
          o.body = text.slice(0, 2_048);
          o.bodyChars = text.length;
          o.end = "json";
          o.firstChunkMs = o.headMs;
          firstSeen(true);
          try {
            apply(o, readAnswer(endpoint, JSON.parse(text)));
          } catch {
            // not JSON: body kept as is (the wire check says so)
          }
          return o;
        }
        o.wire = { headers, body: "" };
        await readStream(res.body!, endpoint, o, onText);
        return o;
      } catch (err) {
        if (o.end === "done" || o.end === "error-frame") return o; // cut after its end: what the client needed had come
        if (why) o.end = why;
        else {
          o.end = "conn-error";
          o.detail = describe(err);
        }
        return o;
      } finally {
        o.ms = performance.now() - t0;
        clearTimeout(hang);
        clearTimeout(byTime);
        this.signal?.removeEventListener("abort", onOuter);
        firstSeen(false);
      }
    };
    return { id, firstChunk, done: run(), abort: () => abortAs("aborted") };
  }
}

/** The turns the edge scores for a request (wire.ts requestBody: completions send the last user turn as the prompt). */
function scoredTurns(ep: Endpoint, content: string, messages?: RequestOptions["messages"]): Array<{ role: string; content: string }> {
  if (!messages) return [{ role: "user", content }];
  if (ep !== "completions") return messages.map((m) => ({ role: m.role, content: m.content }));
  return [{ role: "user", content: messages.filter((m) => m.role === "user").at(-1)?.content ?? "" }];
}

function apply(o: Outcome, f: Frame): void {
  if (f.text) o.text += f.text;
  if (f.finish) o.finishReason = f.finish;
  if (f.error) o.error = f.error;
}

/**
 * Reads an SSE body frame by frame until its end frame, then up to CLOSE_MS
 * more for the body to close (what follows an end is kept for the wire
 * check, which requires the end to be last). No end frame: "cut".
 */
export async function readStream(body: ReadableStream<Uint8Array>, ep: Endpoint, o: Outcome, onText: () => void): Promise<void> {
  const reader = body.getReader();
  const dec = new TextDecoder();
  let buf = "";
  let ended = false;
  for (;;) {
    const next = ended ? await Promise.race([reader.read(), sleepFor(CLOSE_MS)]) : await reader.read();
    if (next === "late") {
      o.detail = `the body stayed open ${CLOSE_MS} ms after the stream's end`;
      void reader.cancel().catch(() => {});
      return;
    }
    if (next.done) {
      if (!ended) o.end = "cut";
      return;
    }
    const text = dec.decode(next.value, { stream: true });
    o.wire!.body += text;
    if (ended) continue;
    buf += text;
    let i: number;
    while (!ended && (i = buf.search(/\r?\n\r?\n/)) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i).replace(/^\r?\n\r?\n/, "");
      for (const e of sseEvents(block)) {
        const f = readFrame(ep, e.event, e.data);
        if (!f) {
          o.detail = `unparsable event: ${e.data.slice(0, 80)}`;
          continue;
        }
        apply(o, f);
        if (f.text) onText();
        if (f.end) {
          o.end = f.end === "done" ? "done" : "error-frame";
          ended = true;
          break;
        }
      }
    }
  }
}

const sleepFor = (ms: number) => new Promise<"late">((r) => setTimeout(() => r("late"), ms).unref());

function describe(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  return [e.message, e.cause?.code ?? e.cause?.message].filter(Boolean).join(": ");
}

/** One-line summary of an outcome, for failure notes. */
export function brief(o: Outcome): string {
  const err = o.error ? ` ${o.error.code ?? ""} ${String(o.error.message ?? "").slice(0, 60)}` : "";
  const what = `${o.endpoint ?? "raw"}${o.stream ? " stream" : ""}${o.expectedRoute ? ` ${o.expectedRoute}` : ""}`;
  return `${o.id} (${what}): ${o.status ?? "-"} ${o.end}${o.finishReason ? ` (${o.finishReason})` : ""}${o.route && o.route !== o.expectedRoute ? ` route ${o.route}` : ""}${err}${o.detail ? ` [${o.detail}]` : ""} in ${Math.round(o.ms)} ms`;
}
