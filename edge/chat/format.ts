/** The chat completions wire format: a chat.completion body, or chat.completion.chunk frames ending in `data: [DONE]`. */
import { chunkBody, completionBody, logprobEntries, sse, SSE_DONE, usageChunkBody, type CompletionMeta } from "../openai/index.ts";
import type { WireFormat } from "../pipeline/format.ts";

export interface ChatFormatOptions {
  /** stream_options.include_usage: a usage chunk before [DONE]. */
  includeUsage: boolean;
  /** Alternatives per token when the client asked for logprobs; null: no logprobs. */
  topLogprobs: number | null;
}

export function chatFormat(meta: CompletionMeta, opts: ChatFormatOptions): WireFormat {
  const { topLogprobs } = opts;
  const entries = (lps: Parameters<typeof logprobEntries>[0]) => (topLogprobs === null ? null : logprobEntries(lps, topLogprobs));
  return {
    body: (a) => completionBody(meta, a.text, a.reason, a.usage, entries(a.logprobs)),
    stream: () => ({
      start: () => sse(chunkBody(meta, { role: "assistant", content: "" }, null)),
      delta: (text, lps) => (!text && lps.length === 0 ? "" : sse(chunkBody(meta, { content: text }, null, entries(lps)))),
      finish: (done) => sse(chunkBody(meta, {}, done.reason)) + (opts.includeUsage ? sse(usageChunkBody(meta, done.usage)) : "") + SSE_DONE,
      error: (body) => sse(body),
    }),
  };
}
