/** Cutting prompts that do not fit the model's context. */
import type { ChatMessage, SuiteContext } from "./types.ts";

/**
 * The smallest left cut `k` (characters dropped from the start of `text`)
 * such that `make(text.slice(k))` fits in `max` prompt tokens, by binary
 * search (token count is monotone in the cut, up to tokenizer merges).
 * `whole` is the prompt uncut: what the client sent (GenItem.sent).
 */
export function cutLeft(ctx: SuiteContext, text: string, make: (t: string) => ChatMessage[], max: number): { messages: ChatMessage[]; cut: number; whole: ChatMessage[] } {
  const whole = make(text);
  if (ctx.promptTokens(whole) <= max) return { messages: whole, cut: 0, whole };
  let lo = 1;
  let hi = text.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ctx.promptTokens(make(text.slice(mid))) <= max) hi = mid;
    else lo = mid + 1;
  }
  const messages = make(text.slice(lo));
  if (ctx.promptTokens(messages) > max) throw new Error(`a prompt does not fit in ${max} tokens even with its template cut away`);
  return { messages, cut: lo, whole };
}
