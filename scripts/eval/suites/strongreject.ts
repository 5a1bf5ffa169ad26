/** StrongREJECT forbidden prompts (313): direct harmful requests. */
import { promptItems, readCsv } from "./common.ts";
import type { SuiteDef } from "./types.ts";

export const strongreject: SuiteDef = {
  name: "strongreject",
  group: "harmful",
  sources: ["strongreject/strongreject_dataset.csv"],
  description: "StrongREJECT forbidden prompts (313), direct",
  maxTokens: 48,
  load: (ctx) => promptItems(ctx, "strongreject", readCsv(ctx, "strongreject/strongreject_dataset.csv").map((r) => r.forbidden_prompt!)),
};
