/** HarmBench standard behaviours (contextual and copyright left out): direct harmful requests. */
import { promptItems, readCsv } from "./common.ts";
import type { SuiteDef } from "./types.ts";

export const harmbench: SuiteDef = {
  name: "harmbench",
  group: "harmful",
  sources: ["harmbench/harmbench_behaviors_text_all.csv"],
  description: "HarmBench standard behaviours (200), direct",
  maxTokens: 48,
  load: (ctx) => promptItems(ctx, "harmbench", readCsv(ctx, "harmbench/harmbench_behaviors_text_all.csv").filter((r) => r.FunctionalCategory === "standard").map((r) => r.Behavior!)),
};
