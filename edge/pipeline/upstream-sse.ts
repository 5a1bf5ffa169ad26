/**
 * What an upstream's streamed chat completion said, read from its SSE bytes
 * as they pass through to the client unchanged: the text of choice 0, its
 * finish reason, and the usage frame. The events need the finish reason and
 * token counts; with classifier.assistant_turns "unserved" the edge must
 * remember the text it served (edge/risk/served.ts), streamed or not.
 *
 * Frames are parsed by eventsource-parser (field rules, CRLF, frames split
 * across chunks); each `data:` payload is one JSON chunk of the OpenAI chat
 * completions stream, or `[DONE]`. A payload that is not JSON is skipped:
 * the client gets it as sent, and this reader only loses what it would have
 * said.
 */
import { createParser, type EventSourceParser } from "eventsource-parser";

/** Most characters of completion text kept (the edge relays any length; past this it no longer knows the text). */
export const MAX_COMPLETION_CHARS = 4 << 20;
/** Most bytes one SSE frame may buffer before the reader gives up on the stream (it still relays it). */
const MAX_FRAME_BYTES = 1 << 20;

interface ChatChunk {
  choices?: Array<{ index?: number; delta?: { content?: string | null }; finish_reason?: string | null }>;
  usage?: { prompt_tokens?: number; completion_tokens?: number } | null;
}

export class UpstreamSseReader {
  finishReason: string | null = null;
  promptTokens: number | null = null;
  completionTokens: number | null = null;
  private parts: string[] = [];
  private chars = 0;
  /** The text is not known whole: too long, or the stream could not be read. */
  private lost = false;
  private readonly decoder = new TextDecoder();
  private readonly parser: EventSourceParser = createParser({
    onEvent: (e) => this.onData(e.data),
    onError: () => {
      this.lost = true;
    },
    maxBufferSize: MAX_FRAME_BYTES,
  });

  /** Reads the next bytes of the stream. */
  feed(bytes: Uint8Array): void {
    try {
      this.parser.feed(this.decoder.decode(bytes, { stream: true }));
    } catch {
      this.lost = true; // a terminated parser throws; the relay goes on regardless
    }
  }

  /** Choice 0's whole text, or undefined when it is not known whole (too long, unreadable). */
  completion(): string | undefined {
    return this.lost ? undefined : this.parts.join("");
  }

  private onData(data: string): void {
    if (data === "[DONE]") return;
    let chunk: ChatChunk;
    try {
      chunk = JSON.parse(data) as ChatChunk;
    } catch {
      return;
    }
    if (chunk.usage) {
      if (typeof chunk.usage.prompt_tokens === "number") this.promptTokens = chunk.usage.prompt_tokens;
      if (typeof chunk.usage.completion_tokens === "number") this.completionTokens = chunk.usage.completion_tokens;
    }
    for (const c of chunk.choices ?? []) {
      if ((c.index ?? 0) !== 0) continue;
      if (typeof c.finish_reason === "string") this.finishReason = c.finish_reason;
      const text = c.delta?.content;
      if (typeof text !== "string" || this.lost) continue;
      this.chars += text.length;
      if (this.chars > MAX_COMPLETION_CHARS) {
        this.lost = true;
        this.parts = [];
      } else this.parts.push(text);
    }
  }
}
