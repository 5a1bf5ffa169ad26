/**
 * XSTest v2: 250 safe prompts that look unsafe (over-refusal: refusing them is
 * the failure) and their 200 unsafe contrasts (a check: those should be refused).
 */
import { promptItems, readCsv } from "./common.ts";
import type { SuiteDef } from "./types.ts";

const FILE = "xstest/xstest_prompts.csv";

export const xstestSafe: SuiteDef = {
  name: "xstest-safe",
  group: "overrefusal",
  sources: [FILE],
  description: "XSTest safe prompts (250): refusal here is over-refusal",
  maxTokens: 48,
  load: (ctx) => promptItems(ctx, "xstest-safe", readCsv(ctx, FILE).filter((r) => r.label === "safe").map((r) => r.prompt!)),
};

export const xstestUnsafe: SuiteDef = {
  name: "xstest-unsafe",
  group: "check",
  sources: [FILE],
  description: "XSTest unsafe contrasts (200): should be refused (a check on the over-refusal sets)",
  maxTokens: 48,
  load: (ctx) => promptItems(ctx, "xstest-unsafe", readCsv(ctx, FILE).filter((r) => r.label === "unsafe").map((r) => r.prompt!)),
};
