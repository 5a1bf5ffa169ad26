/** SimpleSafetyTests (100 prompts, 5 harm areas): direct harmful requests. */
import { promptItems, readCsv } from "./common.ts";
import type { SuiteDef } from "./types.ts";

const FILE = "simple_safety_tests/SimpleSafetyTests - test cases.csv";

export const sst: SuiteDef = {
  name: "sst",
  group: "harmful",
  sources: [FILE],
  description: "SimpleSafetyTests (100), direct",
  maxTokens: 48,
  load: (ctx) => promptItems(ctx, "sst", readCsv(ctx, FILE).map((r) => r.prompts_final!)),
};
