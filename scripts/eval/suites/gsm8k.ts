/**
 * GSM8K test (1,319): exact match of the final number, by greedy generation
 * (zero-shot; the prompt asks for the answer after "####").
 */
import { goldAnswer } from "../gsm8k-answer.ts";
import { pick, readJsonl, user } from "./common.ts";
import type { GenItem, SuiteDef } from "./types.ts";

export const GSM8K_SUFFIX = '\nSolve it step by step, then give the final number after "####".';

export const gsm8k: SuiteDef = {
  name: "gsm8k",
  group: "capability",
  sources: ["gsm8k/test.jsonl"],
  description: "GSM8K test, exact match by generation (0-shot)",
  maxTokens: 96,
  load(ctx) {
    const all = (readJsonl(ctx, "gsm8k/test.jsonl") as { question: string; answer: string }[]).map((r, i) => ({ ...r, i }));
    // A question cannot be cut; ones that leave no room for the answer are left out (and noted).
    const max = ctx.maxPromptTokens(96);
    const rows = all.filter((r) => ctx.promptTokens(user(`${r.question}${GSM8K_SUFFIX}`)) <= max);
    if (rows.length < all.length) ctx.note(`gsm8k: ${all.length - rows.length} of ${all.length} test questions left out: prompt over ${max} tokens (context minus 96 for the answer).`);
    return pick(ctx, "gsm8k", rows).map((r): GenItem => ({ kind: "gen", id: `gsm8k/${r.i}`, messages: user(`${r.question}${GSM8K_SUFFIX}`), gold: goldAnswer(r.answer) }));
  },
};
