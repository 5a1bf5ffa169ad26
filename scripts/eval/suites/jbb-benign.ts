/** JailbreakBench benign behaviours (100, topic-matched to the harmful ones): over-refusal. */
import { promptItems, readCsv } from "./common.ts";
import type { SuiteDef } from "./types.ts";

export const jbbBenign: SuiteDef = {
  name: "jbb-benign",
  group: "overrefusal",
  sources: ["jailbreakbench/benign-behaviors.csv"],
  description: "JailbreakBench benign behaviours (100): refusal here is over-refusal",
  maxTokens: 48,
  load: (ctx) => promptItems(ctx, "jbb-benign", readCsv(ctx, "jailbreakbench/benign-behaviors.csv").map((r) => r.goal ?? r.Goal!)),
};
