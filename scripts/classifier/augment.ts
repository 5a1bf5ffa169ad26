/**
 * Training-side additions beyond the listed files (the model card lists them):
 *
 * 1. Field counterfactuals. red_instruct `harmfulqa` asks "How can I use <field>
 *    to <harm>?" for 98 academic fields, and no training file mentions those
 *    fields in a harmless request, so "cultural studies" or "pharmacology"
 *    itself becomes risk and exam questions get flagged. For every field we add
 *    harmless questions in the same frames ("How can I use <field> to prepare for
 *    my exam?", "What is <field>?"), so the field carries no label by itself and
 *    the harm clause has to.
 * 2. The hand-written contrast sets (contrast-set.json, -2, -3): benign
 *    prompts that use dangerous-sounding words (homonyms, idioms, safe
 *    targets, games and fiction, definitions, history, safety advice, defensive
 *    security, long factual passages) and harmful twins worded the same way;
 *    contrast-set-4.json: short conversational messages (greetings, thanks,
 *    acknowledgements, "test") and harmful requests behind a greeting, so
 *    that "hi" is not steered and a greeting does not launder a request;
 *    contrast-set-5.json: more of them, of kinds the fourth has few of
 *    (other languages, test pings naming what they test, "just saying hi");
 *    Written for this project, not taken from any benchmark.
 * 3. Opt-in (train:classifier --multi-turn-set; not in the shipped artifact,
 *    the model card says why): contrast-set-6.json, the user turns of
 *    multi-turn conversations, harmful ones whose intent is spread over the
 *    turns (a topic set up, then "how would someone actually do that?") and
 *    benign ones of the same shapes and topics; each is one example, its
 *    turns joined as the scorer joins a conversation's client turns
 *    (RiskModel.scoreConversation). Written for this project too.
 * 4. Opt-in (train:classifier --system-prompt-set; not shipped either, the
 *    model card says why): contrast-set-7.json, operator system prompts:
 *    benign ones that name the harms they refuse (safety policies, moderation
 *    tasks, security, medical and legal personas) and harmful ones in the
 *    same words (personas without a policy, harmful jobs, a harmful order
 *    inside a persona, a policy turned around). Written for this project too.
 *
 * All go through the same overlap removal and seeded train/validation split as
 * the files.
 */
import { readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { TURN_SEPARATOR } from "../../edge/classifier/model.ts";
import type { TextItem } from "./data.ts";
import { mulberry32 } from "./train-lib.ts";

/** The hand-written contrast sets, in the order they were written. */
export const CONTRAST_SETS = ["./contrast-set.json", "./contrast-set-2.json", "./contrast-set-3.json", "./contrast-set-4.json", "./contrast-set-5.json"].map((f) => fileURLToPath(new URL(f, import.meta.url)));

/** The multi-turn contrast set (see 3. above), added to CONTRAST_SETS by --multi-turn-set. */
export const MULTI_TURN_SET = fileURLToPath(new URL("./contrast-set-6.json", import.meta.url));

/** The operator system prompts (see 4. above), added by --system-prompt-set. */
export const SYSTEM_PROMPT_SET = fileURLToPath(new URL("./contrast-set-7.json", import.meta.url));

/** The opt-in contrast sets a first stage may be trained with beside the shipped ones (the artifact records them). */
export interface OptInSets {
  multiTurn: boolean;
  systemPrompts: boolean;
}

export const NO_OPT_IN: OptInSets = { multiTurn: false, systemPrompts: false };

/** The contrast sets a first stage trains on: the shipped ones, and the opt-in ones asked for. */
export function contrastSets(o: OptInSets = NO_OPT_IN): string[] {
  return [...CONTRAST_SETS, ...(o.multiTurn ? [MULTI_TURN_SET] : []), ...(o.systemPrompts ? [SYSTEM_PROMPT_SET] : [])];
}

/** Harmless goals for "How can I use <field> to <goal>?" (written for this project). */
const GOALS = [
  "prepare for my final exam",
  "write a better research paper",
  "understand the news",
  "help my local community",
  "choose a career",
  "teach my high school class",
  "solve problems at work",
  "improve public health",
  "make better everyday decisions",
  "start a small business",
  "explain it to my kids",
  "get a scholarship",
];

const FRAMES = [
  (f: string) => `What is ${f}?`,
  (f: string) => `Explain the key ideas of ${f} to a beginner.`,
  (f: string) => `What careers are there in ${f}?`,
  (f: string) => `Recommend three introductory books on ${f}.`,
];

/** Harmless questions about each harmfulqa field (see 1. above); `goalsPerField` seeded goals each. */
export function fieldCounterfactuals(dataDir: string, seed: number, goalsPerField = 3): TextItem[] {
  const byTopic = JSON.parse(readFileSync(join(dataDir, "red_instruct/harmfulqa.json"), "utf8")) as Record<string, Record<string, unknown>>;
  const rng = mulberry32(seed ^ 0xf1e1d);
  const out: TextItem[] = [];
  for (const topic of Object.values(byTopic)) {
    for (const field of Object.keys(topic)) {
      const f = field.toLowerCase();
      for (const frame of FRAMES) out.push({ text: frame(f), label: 0, source: "augment/harmfulqa-fields" });
      for (let k = 0; k < goalsPerField; k++) {
        const g = GOALS[Math.floor(rng() * GOALS.length)];
        out.push({ text: `How can I use ${f} to ${g}?`, label: 0, source: "augment/harmfulqa-fields" });
      }
    }
  }
  return out;
}

/** One prompt, or the user turns of one conversation. */
type ContrastEntry = ({ text: string } | { turns: string[] }) & { category: string };

/** The source of the multi-turn set's examples (its own, so that validation reports and template pools tell it apart). */
export const MULTI_TURN_SOURCE = "augment/multiturn";

/** What train:classifier records of these additions in the artifact (`training.augment`); optInSetsOf reads it. */
export interface AugmentRecord {
  harmfulqaFields: boolean;
  contrastSet: boolean;
  /** trained with the multi-turn contrast set (--multi-turn-set); absent in artifacts before it existed */
  multiTurnSet?: boolean;
  /** trained with the system-prompt contrast set (--system-prompt-set); absent in artifacts before it existed */
  systemPromptSet?: boolean;
  background: unknown;
}

interface ContrastFile {
  benign: ContrastEntry[];
  harmful: ContrastEntry[];
}

/** The text the scorer judges for an entry: the prompt, or the conversation's turns joined. */
export function contrastText(x: ContrastEntry): string {
  return "text" in x ? x.text : x.turns.join(TURN_SEPARATOR);
}

/** Throws unless every entry of a contrast file is a prompt or a list of turns, all strings. */
function checkContrastFile(c: ContrastFile, path: string): void {
  for (const side of ["benign", "harmful"] as const) {
    if (!Array.isArray(c[side])) throw new Error(`${path}: "${side}" is not a list`);
    c[side].forEach((x, i) => {
      const ok = "text" in x ? typeof x.text === "string" : "turns" in x && Array.isArray(x.turns) && x.turns.length > 0 && x.turns.every((t) => typeof t === "string");
      if (!ok) throw new Error(`${path}: ${side}[${i}] has neither a "text" string nor a "turns" list of strings`);
    });
  }
}

/** The source tag of a contrast file: augment/contrast for contrast-set.json, augment/contrast-N for contrast-set-N.json, else its name. */
export function contrastSource(path: string): string {
  const name = basename(path, ".json");
  const n = /^contrast-set(?:-(\d+))?$/.exec(name);
  return n ? `augment/contrast${n[1] ? `-${n[1]}` : ""}` : `augment/${name}`;
}

/**
 * Sources whose examples are not one request (a conversation's turns, an
 * operator's system prompt), so never wrapped in a jailbreak template as one;
 * their examples' sources are these plus "-benign" or "-harmful".
 */
export const NOT_A_REQUEST_SOURCES: readonly string[] = [MULTI_TURN_SOURCE, contrastSource(SYSTEM_PROMPT_SET)];

/** The hand-written contrast sets (see 2. above); `source` names the file (the multi-turn set has its own). */
export function contrastSet(paths: readonly string[] = CONTRAST_SETS): TextItem[] {
  return paths.flatMap((path) => {
    const c = JSON.parse(readFileSync(path, "utf8")) as ContrastFile;
    checkContrastFile(c, path);
    const source = path === MULTI_TURN_SET ? MULTI_TURN_SOURCE : contrastSource(path);
    return [
      ...c.benign.map((x) => ({ text: contrastText(x), label: 0 as const, source: `${source}-benign` })),
      ...c.harmful.map((x) => ({ text: contrastText(x), label: 1 as const, source: `${source}-harmful` })),
    ];
  });
}
