/**
 * ARC-Challenge test (1,150 in this copy) by answer-text log-likelihood
 * ("Question: ...\nAnswer:" then each choice's text as the continuation,
 * unnormalised sum: lm-eval-harness `acc`). Few-shot examples are the first
 * dev questions in a seeded order (fewer if they do not fit; recorded).
 */
import { pick, readJsonl, seededSubset, suiteSeed } from "./common.ts";
import { fitShots } from "./mc.ts";
import type { McItem, SuiteContext, SuiteDef } from "./types.ts";

interface ArcRow {
  id: string;
  question: { stem: string; choices: { text: string; label: string }[] };
  answerKey: string;
}
const q = (r: ArcRow) => `Question: ${r.question.stem.trim()}\nAnswer:`;

function load(ctx: SuiteContext, name: string, wanted: number): McItem[] {
  const rows = readJsonl(ctx, "arc_challenge/ARC-Challenge-Test.jsonl") as ArcRow[];
  const devRows = readJsonl(ctx, "arc_challenge/ARC-Challenge-Dev.jsonl") as ArcRow[];
  const dev = seededSubset(devRows, devRows.length, suiteSeed(ctx, "arc-dev"))
    .slice(0, 25)
    .map((r) => `${q(r)} ${r.question.choices.find((c) => c.label === r.answerKey)?.text ?? ""}\n\n`);
  return pick(ctx, name, rows).map((r) => {
    const choices = r.question.choices.map((c) => ` ${c.text.trim()}`);
    const answer = r.question.choices.findIndex((c) => c.label === r.answerKey);
    return fitShots(ctx, `${name}/${r.id}`, "", dev, q(r), choices, answer, wanted);
  });
}

export const arc0: SuiteDef = {
  name: "arc-0shot",
  group: "capability",
  sources: ["arc_challenge/ARC-Challenge-Test.jsonl"],
  description: "ARC-Challenge test, answer-text log-likelihood, 0-shot",
  load: (ctx) => load(ctx, "arc-0shot", 0),
};

export const arcFew: SuiteDef = {
  name: "arc-fewshot",
  group: "capability",
  sources: ["arc_challenge/ARC-Challenge-Test.jsonl", "arc_challenge/ARC-Challenge-Dev.jsonl"],
  description: "ARC-Challenge test, answer-text log-likelihood, few-shot from the dev split",
  load: (ctx) => load(ctx, "arc-fewshot", ctx.shots),
};
