/**
 * The legacy completions wire format: a `text_completion` body, or
 * `text_completion` chunks ending in `data: [DONE]` (a usage chunk with no
 * choices before it when stream_options.include_usage is set). Logprobs in
 * the legacy shape: tokens, token_logprobs, top_logprobs (token -> logprob),
 * text_offset.
 */
import type { PositionLogprobs } from "../../proto/gen/steerguard/v1/sidecar.ts";
import { sse, SSE_DONE, type CompletionMeta, type FinishReasonText, type Usage } from "../openai/index.ts";
import type { StreamWriter, WireFormat } from "../pipeline/format.ts";

export interface LegacyLogprobs {
  tokens: string[];
  token_logprobs: number[];
  top_logprobs: Array<Record<string, number>>;
  text_offset: number[];
}

/** Legacy logprobs of `lps`, the first token at `offset` characters into the completion. */
export function legacyLogprobs(lps: readonly PositionLogprobs[], top: number, offset: number): LegacyLogprobs {
  const out: LegacyLogprobs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
  for (const p of lps) {
    const token = p.chosen?.text ?? "";
    out.tokens.push(token);
    out.token_logprobs.push(p.chosen?.logprob ?? 0);
    out.top_logprobs.push(Object.fromEntries(p.top.slice(0, top).map((t) => [t.text, t.logprob])));
    out.text_offset.push(offset);
    offset += token.length;
  }
  return out;
}

export interface CompletionsFormatOptions {
  includeUsage: boolean;
  /** The legacy `logprobs` (alternatives per token); null: none. */
  logprobs: number | null;
}

export function completionsFormat(meta: CompletionMeta, opts: CompletionsFormatOptions): WireFormat {
  const head = { id: meta.id, object: "text_completion" as const, created: meta.created, model: meta.model, system_fingerprint: null };
  const choice = (text: string, logprobs: LegacyLogprobs | null, finish: FinishReasonText | null) => ({ text, index: 0, logprobs, finish_reason: finish });
  const lp = (lps: readonly PositionLogprobs[], offset: number) => (opts.logprobs === null ? null : legacyLogprobs(lps, opts.logprobs, offset));
  const usageChunk = (u: Usage) => (opts.includeUsage ? sse({ ...head, choices: [], usage: u }) : "");
  return {
    body: (a) => ({ ...head, choices: [choice(a.text, lp(a.logprobs, 0), a.reason)], usage: a.usage }),
    stream: (): StreamWriter => {
      let offset = 0;
      return {
        start: () => "",
        delta(text, lps) {
          if (!text && lps.length === 0) return "";
          const frame = sse({ ...head, choices: [choice(text, lp(lps, offset), null)] });
          offset += text.length;
          return frame;
        },
        finish: (done) => sse({ ...head, choices: [choice("", null, done.reason)] }) + usageChunk(done.usage) + SSE_DONE,
        error: (body) => sse(body),
      };
    },
  };
}
