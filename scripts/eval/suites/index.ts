/** Every suite, in report order. */
import { arc0, arcFew } from "./arc.ts";
import { cosafe } from "./cosafe.ts";
import { gsm8k } from "./gsm8k.ts";
import { harmbench } from "./harmbench.ts";
import { jailbreakTemplates } from "./jailbreak-templates.ts";
import { jbbArtifacts } from "./jbb-artifacts.ts";
import { jbbBenign } from "./jbb-benign.ts";
import { jbbHarmful } from "./jbb-harmful.ts";
import { mmlu0, mmluFew } from "./mmlu.ts";
import { sst } from "./sst.ts";
import { storyOnTopic, storyPpl } from "./stories.ts";
import { strongreject } from "./strongreject.ts";
import { truthfulqa } from "./truthfulqa.ts";
import type { SuiteDef } from "./types.ts";
import { xstestSafe, xstestUnsafe } from "./xstest.ts";

export const SUITES: readonly SuiteDef[] = [
  harmbench,
  strongreject,
  jbbHarmful,
  sst,
  jailbreakTemplates,
  jbbArtifacts,
  cosafe,
  xstestSafe,
  jbbBenign,
  xstestUnsafe,
  mmlu0,
  mmluFew,
  arc0,
  arcFew,
  truthfulqa,
  gsm8k,
  storyPpl,
  storyOnTopic,
];

export const SUITE_NAMES = SUITES.map((s) => s.name);
export type { SuiteDef } from "./types.ts";
