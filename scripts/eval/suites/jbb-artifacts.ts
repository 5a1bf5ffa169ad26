/**
 * JailbreakBench attack artifacts (PAIR, GCG, JBC, prompt-with-random-search;
 * every target model's file): the attack prompts, replayed single-turn.
 * Prompts longer than the context are cut from the left and counted.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { listDir, pick, readText, user } from "./common.ts";
import { cutLeft } from "./fit.ts";
import type { GenItem, SuiteDef } from "./types.ts";

const DIR = "jailbreakbench/artifacts";
const MAX_TOKENS = 48;

export const jbbArtifacts: SuiteDef = {
  name: "jbb-artifacts",
  group: "jailbreak",
  sources: [`${DIR}/*/*/*.json`],
  description: "JailbreakBench attack artifacts (PAIR, GCG, JBC, random search) prompts",
  maxTokens: MAX_TOKENS,
  load(ctx) {
    if (!existsSync(join(ctx.dataDir, DIR))) return [];
    const all: { id: string; prompt: string }[] = [];
    for (const method of listDir(ctx, DIR)) {
      if (method.endsWith(".json")) continue;
      for (const kind of listDir(ctx, `${DIR}/${method}`)) {
        if (kind.endsWith(".json")) continue;
        for (const f of listDir(ctx, `${DIR}/${method}/${kind}`)) {
          const art = JSON.parse(readText(ctx, `${DIR}/${method}/${kind}/${f}`)) as { jailbreaks?: { prompt?: string | null; index?: number }[] };
          (art.jailbreaks ?? []).forEach((j, n) => {
            if (typeof j.prompt === "string" && j.prompt.trim()) all.push({ id: `${method}/${kind}/${f.replace(/\.json$/, "")}/${j.index ?? n}`, prompt: j.prompt });
          });
        }
      }
    }
    const max = ctx.maxPromptTokens(MAX_TOKENS);
    return pick(ctx, "jbb-artifacts", all).map(({ id, prompt }): GenItem => {
      const { messages, cut, whole } = cutLeft(ctx, prompt, user, max);
      return { kind: "gen", id: `jbb-artifacts/${id}`, messages, truncated: cut > 0, ...(cut > 0 && { sent: whole }) };
    });
  },
};
