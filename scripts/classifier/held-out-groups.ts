/**
 * The held-out prompt groups every whole-gate evaluation scores
 * (eval:classifier, eval-condition): the held-out files minus anything seen in
 * training, plus the jailbreak-wrapped sets built from the new (2023_12_25-only)
 * templates, each paired (seeded) with one short held-out harmful request and,
 * for the FPR line, one short held-out benign instruction; and benign
 * conversations of 3 and of 10 user turns drawn (seeded) from the held-out
 * benign instructions and questions, which show how the max over turns
 * compounds a per-message false positive rate.
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
  /** BENIGN_DIALOGUES conversations of BENIGN_DIALOGUE_TURNS user turns, each a held-out benign instruction or question */
  benignDialogues: Dialogue[];
  /** LONG_BENIGN_DIALOGUES conversations of LONG_BENIGN_DIALOGUE_TURNS such turns */
  longBenignDialogues: Dialogue[];
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
  const gsm8k = unseen(h.gsm8kTest);
  const capability = unseen(h.capability);
  const benignPool = [...benignInstructions, ...gsm8k, ...capability];
  return {
    directHarmful,
    otherHarmful: unseen(h.otherHarmful),
    benignInstructions,
    xstestSafe: unseen(h.xstestSafe),
    jbbBenign: unseen(h.jbbBenign),
    gsm8k,
    capability,
    wrappedHarmful,
    wrappedBenign,
    jbbAttacks: h.jbbAttacks,
    multiTurn: h.multiTurn,
    benignDialogues: benignDialogues(benignPool, BENIGN_DIALOGUES, BENIGN_DIALOGUE_TURNS, mulberry32((seed | 0) + 1)),
    longBenignDialogues: benignDialogues(benignPool, LONG_BENIGN_DIALOGUES, LONG_BENIGN_DIALOGUE_TURNS, mulberry32((seed | 0) + 2)),
    dropped,
  };
}

export const BENIGN_DIALOGUES = 1000;
export const BENIGN_DIALOGUE_TURNS = 3;
export const LONG_BENIGN_DIALOGUES = 500;
export const LONG_BENIGN_DIALOGUE_TURNS = 10;
/** What the assistant says between the user turns (the gate reads only client-written messages). */
const ASSISTANT_TURN = "Here is my answer.";

/** `n` conversations of `turns` benign user turns, each turn drawn at random from `pool`. */
function benignDialogues(pool: readonly TextItem[], n: number, turns: number, rng: () => number): Dialogue[] {
  return Array.from({ length: n }, () => {
    const messages: Dialogue["messages"] = [];
    for (let t = 0; t < turns; t++) {
      if (t > 0) messages.push({ role: "assistant", content: ASSISTANT_TURN });
      messages.push({ role: "user", content: pool[Math.floor(rng() * pool.length)]!.text });
    }
    return { messages, label: 0 as const, source: "held-out benign turns" };
  });
}
