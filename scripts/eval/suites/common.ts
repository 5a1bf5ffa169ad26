/** Helpers the suite loaders share: file reading, seeded subsets, context fitting. */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { parseCsvObjects } from "../../classifier/csv.ts";
import { seededSubset } from "../../find-features/prompts.ts";
import type { ChatMessage, GenItem, SuiteContext } from "./types.ts";

export { seededSubset };

export const readText = (ctx: SuiteContext, rel: string) => readFileSync(join(ctx.dataDir, rel), "utf8");
export const readCsv = (ctx: SuiteContext, rel: string) => parseCsvObjects(readText(ctx, rel));
export const readJsonl = (ctx: SuiteContext, rel: string) =>
  readText(ctx, rel)
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as unknown);
export const listDir = (ctx: SuiteContext, rel: string) => readdirSync(join(ctx.dataDir, rel)).sort();

/** A stable per-suite seed offset, so suites draw independent subsets. */
export function suiteSeed(ctx: SuiteContext, name: string): number {
  let h = 2166136261;
  for (const c of name) h = Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0;
  return (ctx.seed ^ h) >>> 0;
}

/** The suite's seeded subset (ctx.limit items, original order). */
export function pick<T>(ctx: SuiteContext, name: string, items: readonly T[]): T[] {
  return ctx.limit === undefined ? [...items] : seededSubset(items, ctx.limit, suiteSeed(ctx, name));
}

export const user = (content: string): ChatMessage[] => [{ role: "user", content }];

/** Single-turn generation items from plain prompts. */
export function promptItems(ctx: SuiteContext, name: string, prompts: readonly string[]): GenItem[] {
  const all = prompts.map((p, i) => ({ p: p.trim(), i })).filter((x) => x.p);
  return pick(ctx, name, all).map(({ p, i }) => ({ kind: "gen", id: `${name}/${i}`, messages: user(p) }));
}

/** Harmful requests for wrapping in jailbreaks: HarmBench standard + JailbreakBench harmful (held out). */
export function harmfulRequests(ctx: SuiteContext): string[] {
  const hb = readCsv(ctx, "harmbench/harmbench_behaviors_text_all.csv").filter((r) => r.FunctionalCategory === "standard").map((r) => r.Behavior!);
  const jbb = readCsv(ctx, "jailbreakbench/behaviors.csv").map((r) => r.Goal!);
  return [...hb, ...jbb].map((s) => s.trim()).filter(Boolean);
}
