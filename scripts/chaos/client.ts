/**
 * An HTTP client for the suite that records what each request did, as a
 * client would see it: the status and headers, and for a stream how it ended
 * (`[DONE]`, an error event, cut off silently, or nothing at all past its
 * deadline: a hang). Every request carries its own `x-request-id`, which the
 * edge uses as the decision event's request id, so the events file can be
 * checked request by request.
 */
import { randomBytes } from "node:crypto";
import type { Timing } from "./config.ts";

export type End =
  /** a non-streamed answer, read whole */
  | "json"
  /** a stream that ended with data: [DONE] */
  | "done"
  /** a stream that ended with data: {"error": ...} */
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
  stream: boolean;
  status: number | null;
  retryAfter: string | null;
  /** x-steerguard-route (steered | unsteered | blocked): present once the request reached routing. */
  route: string | null;
  end: End;
  /** Streamed or returned text. */
  text: string;
  finishReason: string | null;
  /** The error object of an error event or an error body. */
  error: { message?: string; code?: string | null; param?: string | null; type?: string } | null;
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
  detail?: string;
}

/** An outcome before anything is known: no answer yet ("hang" until one comes). */
export function newOutcome(id: string, stream: boolean): Outcome {
  return {
    id, stream, status: null, retryAfter: null, route: null, end: "hang", text: "", finishReason: null, error: null,
    headMs: null, firstChunkMs: null, ms: 0, expectEvent: false, body: "", bodyChars: 0,
  };
}

export interface ChatOptions {
  content?: string;
  messages?: unknown[];
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

let counter = 0;

export class Client {
  constructor(
    readonly url: string,
    readonly key: string,
    readonly timing: Timing,
    private readonly signal?: AbortSignal,
  ) {}

  /** The default hang limit: the edge's deadline plus the suite's margin. */
  get hangMs(): number {
    return this.timing.deadlineMs + this.timing.hangMarginMs;
  }

  chat(opts: ChatOptions): Promise<Outcome> {
    return this.start(opts).done;
  }

  start(opts: ChatOptions): Pending {
    const id = `chaos-${opts.tag ?? "req"}-${++counter}-${randomBytes(3).toString("hex")}`;
    const stream = opts.stream ?? false;
    const body =
      opts.rawBody ??
      JSON.stringify({
        model: opts.model ?? "organism260K",
        messages: opts.messages ?? [{ role: "user", content: opts.content ?? "Tell me a story about a dog" }],
        stream,
        ...(opts.maxTokens !== undefined ? { max_tokens: opts.maxTokens } : {}),
        ...(opts.temperature !== undefined ? { temperature: opts.temperature } : {}),
        ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
        ...(opts.stop ? { stop: opts.stop } : {}),
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
    const o = newOutcome(id, stream);
    const run = async (): Promise<Outcome> => {
      try {
        const res = await fetch(`${this.url}/v1/chat/completions`, {
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
        const sse = (res.headers.get("content-type") ?? "").includes("text/event-stream");
        if (!sse) {
          const text = await res.text();
          o.body = text.slice(0, 2_048);
          o.bodyChars = text.length;
          o.end = "json";
          o.firstChunkMs = o.headMs;
          firstSeen(true);
          try {
            const j = JSON.parse(text) as { error?: Outcome["error"]; choices?: Array<{ finish_reason?: string; message?: { content?: string } }> };
            o.error = j.error ?? null;
            o.text = j.choices?.[0]?.message?.content ?? "";
            o.finishReason = j.choices?.[0]?.finish_reason ?? null;
          } catch {
            // not JSON: body kept as is
          }
          return o;
        }
        const reader = res.body!.getReader();
        const dec = new TextDecoder();
        let buf = "";
        for (;;) {
          const { done, value } = await reader.read();
          if (done) {
            o.end = "cut";
            return o;
          }
          buf += dec.decode(value, { stream: true });
          let i: number;
          while ((i = buf.indexOf("\n\n")) >= 0) {
            const event = buf.slice(0, i);
            buf = buf.slice(i + 2);
            for (const line of event.split("\n")) {
              if (!line.startsWith("data: ")) continue;
              const data = line.slice(6);
              if (data === "[DONE]") {
                o.end = "done";
                void reader.cancel().catch(() => {});
                return o;
              }
              let j: { error?: Outcome["error"]; choices?: Array<{ finish_reason?: string | null; delta?: { content?: string } }> };
              try {
                j = JSON.parse(data);
              } catch {
                o.detail = `unparsable event: ${data.slice(0, 80)}`;
                continue;
              }
              if (j.error) {
                o.error = j.error;
                o.end = "error-frame";
                void reader.cancel().catch(() => {});
                return o;
              }
              const c = j.choices?.[0];
              if (c?.delta?.content) {
                o.text += c.delta.content;
                if (o.firstChunkMs === null) {
                  o.firstChunkMs = performance.now() - t0;
                  firstSeen(true);
                  if (opts.abortAfterFirstChunk) abortAs("aborted");
                }
              }
              if (c?.finish_reason) o.finishReason = c.finish_reason;
            }
          }
        }
      } catch (err) {
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

function describe(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  return [e.message, e.cause?.code ?? e.cause?.message].filter(Boolean).join(": ");
}

/** One-line summary of an outcome, for failure notes. */
export function brief(o: Outcome): string {
  const err = o.error ? ` ${o.error.code ?? ""} ${String(o.error.message ?? "").slice(0, 60)}` : "";
  return `${o.id}: ${o.status ?? "-"} ${o.end}${o.finishReason ? ` (${o.finishReason})` : ""}${err}${o.detail ? ` [${o.detail}]` : ""} in ${Math.round(o.ms)} ms`;
}
