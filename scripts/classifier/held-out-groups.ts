/**
 * The held-out prompt groups every whole-gate evaluation scores
 * (eval:classifier, eval-condition): the held-out files minus anything seen in
 * training, plus the jailbreak-wrapped sets built from the new (2023_12_25-only)
 * templates, each paired (seeded) with one short held-out harmful request and,
 * for the FPR line, one short held-out benign instruction.
 */
import { loadHeldOut, loadTrainingData, unseenFilter, wrapInTemplate, type Dialogue, type TextItem } from "./data.ts";
import { mulberry32 } from "./train-lib.ts";

export interface HeldOutGroups {
  directHarmful: TextItem[];
  otherHarmful: TextItem[];
  benignInstructions: TextItem[];
  xstestSafe: TextItem[];
  jbbBenign: TextItem[];
  gsm8k: TextItem[];
  capability: TextItem[];
  wrappedHarmful: TextItem[];
  wrappedBenign: TextItem[];
  jbbAttacks: TextItem[];
  multiTurn: Dialogue[];
  /** held-out items dropped as seen in a training file, per source */
  dropped: Record<string, number>;
}

export function heldOutGroups(dataDir: string, seed: number): HeldOutGroups {
  const h = loadHeldOut(dataDir);
  // No held-out prompt may have been trained on: drop any whose text is in a training file
  // (red_instruct adversarialqa is a verbatim copy of AdvBench, so all of it goes).
  const { unseen, dropped } = unseenFilter(loadTrainingData(dataDir));
  const directHarmful = unseen(h.directHarmful);
  const benignInstructions = unseen(h.benignInstructions);
  const rng = mulberry32(seed | 0);
  const shortHarm = directHarmful.filter((x) => x.text.length <= 400);
  const shortBenign = benignInstructions.filter((x) => x.text.length <= 400);
  const wrappedHarmful: TextItem[] = h.newTemplates.map((t) => ({
    text: wrapInTemplate(t.text, shortHarm[Math.floor(rng() * shortHarm.length)].text),
    label: 1,
    source: "new-templates+harmful",
  }));
  const wrappedBenign: TextItem[] = h.newTemplates.map((t) => ({
    text: wrapInTemplate(t.text, shortBenign[Math.floor(rng() * shortBenign.length)].text),
    label: 0,
    source: "new-templates+benign",
  }));
  return {
    directHarmful,
    otherHarmful: unseen(h.otherHarmful),
    benignInstructions,
    xstestSafe: unseen(h.xstestSafe),
    jbbBenign: unseen(h.jbbBenign),
    gsm8k: unseen(h.gsm8kTest),
    capability: unseen(h.capability),
    wrappedHarmful,
    wrappedBenign,
    jbbAttacks: h.jbbAttacks,
    multiTurn: h.multiTurn,
    dropped,
  };
}
