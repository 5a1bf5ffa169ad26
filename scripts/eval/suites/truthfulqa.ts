/**
 * TruthfulQA MC1 (817) by log-likelihood: "Q: question" then each answer as
 * the continuation; correct when the best answer outscores every incorrect
 * answer (MC1 built from the original CSV: Best Answer vs Incorrect Answers).
 */
import { pick, readCsv, user } from "./common.ts";
import type { McItem, SuiteDef } from "./types.ts";

const split = (s: string | undefined) => (s ?? "").split(";").map((x) => x.trim()).filter(Boolean);

export const truthfulqa: SuiteDef = {
  name: "truthfulqa-mc1",
  group: "capability",
  sources: ["truthfulqa/TruthfulQA.csv"],
  description: "TruthfulQA MC1 (best answer vs incorrect answers), log-likelihood, 0-shot",
  load(ctx) {
    const rows = readCsv(ctx, "truthfulqa/TruthfulQA.csv").map((r, i) => ({ r, i }));
    return pick(ctx, "truthfulqa-mc1", rows).map(({ r, i }): McItem => {
      const choices = [r["Best Answer"]!.trim(), ...split(r["Incorrect Answers"])].map((c) => ` ${c}`);
      return { kind: "mc", id: `truthfulqa-mc1/${i}`, messages: user(`Q: ${r.Question!.trim()}`), choices, answer: 0, shots: 0 };
    });
  },
};
