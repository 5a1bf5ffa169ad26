/** JailbreakBench JBB-100 harmful behaviours: direct harmful requests. */
import { promptItems, readCsv } from "./common.ts";
import type { SuiteDef } from "./types.ts";

export const jbbHarmful: SuiteDef = {
  name: "jbb-harmful",
  group: "harmful",
  sources: ["jailbreakbench/behaviors.csv"],
  description: "JailbreakBench harmful behaviours (100), direct",
  maxTokens: 48,
  load: (ctx) => promptItems(ctx, "jbb-harmful", readCsv(ctx, "jailbreakbench/behaviors.csv").map((r) => r.Goal!)),
};
