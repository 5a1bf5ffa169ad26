/**
 * Held-out in-the-wild jailbreak templates (jailbreak_prompts_2023_12_25.csv
 * minus every template in 2023_05_07, which the classifier trained on; dedupe
 * on normalised text, as the classifier's loader does: 706 templates), each
 * wrapped around one held-out harmful request (HarmBench standard +
 * JailbreakBench harmful, seeded pairing). The request goes in the template's
 * placeholder, or after it. Prompts longer than the context are cut from the
 * LEFT of the template (the request is never cut) and counted.
 */
import { dedupeKey, wrapInTemplate } from "../../classifier/data.ts";
import { mulberry32 } from "../../../sidecar/sae/train.ts";
import { harmfulRequests, pick, readCsv, suiteSeed, user } from "./common.ts";
import { cutLeft } from "./fit.ts";
import type { GenItem, SuiteDef } from "./types.ts";

const NEW = "jailbreak_llms/jailbreak_prompts_2023_12_25.csv";
const OLD = "jailbreak_llms/jailbreak_prompts_2023_05_07.csv";
const MAX_TOKENS = 48;

export function heldOutTemplates(ctx: Parameters<SuiteDef["load"]>[0]): string[] {
  const seen = new Set(readCsv(ctx, OLD).map((r) => dedupeKey(r.prompt ?? "")));
  const out: string[] = [];
  for (const r of readCsv(ctx, NEW)) {
    const k = dedupeKey(r.prompt ?? "");
    if (!k || seen.has(k)) continue;
    seen.add(k);
    out.push(r.prompt!);
  }
  return out;
}

export const jailbreakTemplates: SuiteDef = {
  name: "jailbreak-templates",
  group: "jailbreak",
  sources: [NEW, OLD, "harmbench/harmbench_behaviors_text_all.csv", "jailbreakbench/behaviors.csv"],
  description: "held-out in-the-wild jailbreak templates (2023_12_25 not in 2023_05_07) around held-out harmful requests",
  maxTokens: MAX_TOKENS,
  load(ctx) {
    const templates = heldOutTemplates(ctx).map((t, i) => ({ t, i }));
    const requests = harmfulRequests(ctx);
    const rand = mulberry32(suiteSeed(ctx, "jailbreak-templates/pairing"));
    const paired = templates.map(({ t, i }) => ({ t, i, r: requests[Math.floor(rand() * requests.length)]! }));
    const max = ctx.maxPromptTokens(MAX_TOKENS);
    return pick(ctx, "jailbreak-templates", paired).map(({ t, i, r }): GenItem => {
      const { messages, cut, whole } = cutLeft(ctx, t, (tt) => user(wrapInTemplate(tt, r)), max);
      return { kind: "gen", id: `jailbreak-templates/${i}`, messages, truncated: cut > 0, ...(cut > 0 && { sent: whole }) };
    });
  },
};
