/**
 * The SSE body of a streamed completion from a sidecar generation: the role
 * chunk, a chunk for every sidecar chunk that carries text or logprobs, then
 * the finish chunk (and the usage chunk) and `data: [DONE]`; or an error
 * event when the generation fails mid-way. What to record is the caller's
 * (the handlers).
 */
import type { GenerateChunk } from "../../proto/gen/steerguard/v1/sidecar.ts";
import { chunkBody, sse, SSE_DONE, usageChunkBody, type CompletionMeta, type FinishReasonText, type Usage } from "../openai/index.ts";
import type { GenerationStream } from "../sidecar/index.ts";
import { logprobEntries } from "./convert.ts";

export interface SseOptions {
  meta: CompletionMeta;
  includeUsage: boolean;
  /** Alternatives per token when the client asked for logprobs; null: no logprobs. */
  topLogprobs: number | null;
}

export interface SseHandlers {
  /** The finish chunk arrived (`completion` is the whole text): the finish reason and usage to send. */
  finished(chunk: GenerateChunk, completion: string): { reason: FinishReasonText; usage: Usage };
  /** The generation failed (`err` null: it ended without a finish chunk): the SSE frame to end with, "" for none. */
  failed(err: unknown, completion: string): string;
  /** The client went away (the call is cancelled already). */
  cancelled(completion: string): void;
}

const enc = new TextEncoder();

export function generationSse(gen: GenerationStream, opts: SseOptions, on: SseHandlers): ReadableStream<Uint8Array> {
  const it = gen.rest[Symbol.asyncIterator]();
  let pending: GenerateChunk | undefined = gen.first;
  let completion = "";
  const next = async (): Promise<GenerateChunk | undefined> => {
    const ch = pending;
    pending = undefined;
    if (ch) return ch;
    const n = await it.next();
    return n.done ? undefined : n.value;
  };
  return new ReadableStream<Uint8Array>({
    start(ctrl) {
      ctrl.enqueue(enc.encode(sse(chunkBody(opts.meta, { role: "assistant", content: "" }, null))));
    },
    // Each pull enqueues a frame or closes the stream. A stream calls pull
    // again only once what it enqueued was read, so a pull that returned with
    // neither (on a chunk with no text: a token that decodes to nothing yet,
    // text held back while it may start a stop string) hung it for good.
    async pull(ctrl) {
      for (;;) {
        let ch: GenerateChunk | undefined;
        try {
          ch = await next();
        } catch (err) {
          return end(ctrl, on.failed(err, completion));
        }
        if (!ch) return end(ctrl, on.failed(null, completion));
        const frame = textFrame(ch, opts);
        completion += ch.text;
        if (ch.finish) return end(ctrl, frame + finishFrames(opts, on.finished(ch, completion)));
        if (frame) return push(ctrl, frame);
      }
    },
    cancel() {
      gen.cancel();
      on.cancelled(completion);
    },
  });
}

/** The chunk's text (and logprobs) as a frame; "" when it carries neither. */
function textFrame(ch: GenerateChunk, opts: SseOptions): string {
  if (!ch.text && ch.logprobs.length === 0) return "";
  const lps = opts.topLogprobs === null ? null : logprobEntries(ch.logprobs, opts.topLogprobs);
  return sse(chunkBody(opts.meta, { content: ch.text }, null, lps));
}

function finishFrames(opts: SseOptions, done: { reason: FinishReasonText; usage: Usage }): string {
  let out = sse(chunkBody(opts.meta, {}, done.reason));
  if (opts.includeUsage) out += sse(usageChunkBody(opts.meta, done.usage));
  return out + SSE_DONE;
}

/** Writes after the client went away are dropped. */
function push(ctrl: ReadableStreamDefaultController<Uint8Array>, frame: string): void {
  try {
    ctrl.enqueue(enc.encode(frame));
  } catch {
    // cancelled
  }
}

function end(ctrl: ReadableStreamDefaultController<Uint8Array>, frame: string): void {
  if (frame) push(ctrl, frame);
  try {
    ctrl.close();
  } catch {
    // cancelled
  }
}
