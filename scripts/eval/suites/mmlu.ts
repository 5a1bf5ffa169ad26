/**
 * MMLU test (57 subjects, 14,042) by answer-letter log-likelihood: the prompt
 * lists the question and choices A-D, and each letter (" A" ... " D") is scored
 * as the assistant's continuation (lm-eval-harness style). Few-shot examples
 * come from the subject's dev split (5 per subject; fewer if they do not fit
 * the context: the count is recorded per item). This copy is the reformatted
 * one (header, answer index 0-3).
 */
import { listDir, pick, readCsv } from "./common.ts";
import { fitShots } from "./mc.ts";
import type { McItem, SuiteContext, SuiteDef } from "./types.ts";

const LETTERS = ["A", "B", "C", "D"];
const block = (r: Record<string, string>) => `${r.question!.trim()}\n${LETTERS.map((l, i) => `${l}. ${r[`choice${i}`]}`).join("\n")}\nAnswer:`;

function load(ctx: SuiteContext, name: string, wanted: number): McItem[] {
  const rows: { subject: string; r: Record<string, string>; i: number }[] = [];
  for (const f of listDir(ctx, "mmlu/test")) {
    const subject = f.replace(/_test\.csv$/, "");
    readCsv(ctx, `mmlu/test/${f}`).forEach((r, i) => rows.push({ subject, r, i }));
  }
  const dev = new Map<string, string[]>();
  return pick(ctx, name, rows).map(({ subject, r, i }) => {
    if (!dev.has(subject)) dev.set(subject, readCsv(ctx, `mmlu/dev/${subject}_dev.csv`).map((d) => `${block(d)} ${LETTERS[Number(d.answer)]}\n\n`));
    const header = `The following are multiple choice questions (with answers) about ${subject.replace(/_/g, " ")}.\n\n`;
    return fitShots(ctx, `${name}/${subject}/${i}`, header, dev.get(subject)!, block(r), LETTERS.map((l) => ` ${l}`), Number(r.answer), wanted);
  });
}

export const mmlu0: SuiteDef = {
  name: "mmlu-0shot",
  group: "capability",
  sources: ["mmlu/test/*.csv"],
  description: "MMLU test, answer-letter log-likelihood, 0-shot",
  load: (ctx) => load(ctx, "mmlu-0shot", 0),
};

export const mmluFew: SuiteDef = {
  name: "mmlu-fewshot",
  group: "capability",
  sources: ["mmlu/test/*.csv", "mmlu/dev/*.csv"],
  description: "MMLU test, answer-letter log-likelihood, few-shot from the dev split (up to --shots, as many as fit)",
  load: (ctx) => load(ctx, "mmlu-fewshot", ctx.shots),
};
