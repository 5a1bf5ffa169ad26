/**
 * The SSE body of a streamed answer from a sidecar generation, in any wire
 * format (its StreamWriter renders the frames): the opening frames, a frame
 * for every sidecar chunk the writer has something to send for, then the
 * closing frames; or an error frame when the generation fails mid-way. What
 * to record is the caller's (the pipeline's sidecar executor).
 */
import type { GenerateChunk } from "../../proto/gen/steerguard/v1/sidecar.ts";
import type { GenerationStream } from "../sidecar/index.ts";
import type { Finish, StreamWriter } from "./format.ts";

export interface SseHandlers {
  /** The finish chunk arrived (`completion` is the whole text): the finish reason and usage to send. */
  finished(chunk: GenerateChunk, completion: string): Finish;
  /** The generation failed (`err` null: it ended without a finish chunk): the SSE frame to end with, "" for none. */
  failed(err: unknown, completion: string): string;
  /** The client went away (the call is cancelled already). */
  cancelled(completion: string): void;
}

const enc = new TextEncoder();

export function generationSse(gen: GenerationStream, writer: StreamWriter, on: SseHandlers): ReadableStream<Uint8Array> {
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
      const opening = writer.start();
      if (opening) ctrl.enqueue(enc.encode(opening));
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
        const frame = writer.delta(ch.text, ch.logprobs);
        completion += ch.text;
        if (ch.finish) return end(ctrl, frame + writer.finish(on.finished(ch, completion)));
        if (frame) return push(ctrl, frame);
      }
    },
    cancel() {
      gen.cancel();
      on.cancelled(completion);
    },
  });
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
