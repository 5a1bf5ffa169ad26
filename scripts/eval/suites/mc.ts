/** Shared shape of the log-likelihood multiple-choice suites: few-shot prompts that fit the context. */
import type { ChatMessage, McItem, SuiteContext } from "./types.ts";

/**
 * An item with up to `ctx.shots` (or 0) worked examples before the question,
 * fewer when the longest choice would not fit in the context.
 */
export function fitShots(
  ctx: SuiteContext,
  id: string,
  header: string,
  shots: readonly string[],
  question: string,
  choices: string[],
  answer: number,
  wanted: number,
): McItem {
  const longest = Math.max(...choices.map((c) => c.length));
  // Choices are short; reserve their length in tokens at one per character at worst, capped.
  const reserve = Math.min(64, longest + 2);
  const max = ctx.maxPromptTokens(reserve);
  for (let k = Math.min(wanted, shots.length); k >= 0; k--) {
    const text = `${header}${shots.slice(0, k).join("")}${question}`;
    const messages: ChatMessage[] = [{ role: "user", content: text }];
    if (ctx.promptTokens(messages) <= max || k === 0) return { kind: "mc", id, messages, choices, answer, shots: k };
  }
  throw new Error("unreachable");
}
