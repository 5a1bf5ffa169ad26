/**
 * Loads the classifier's training and held-out data from ../shared/data.
 *
 * The split is by file, exactly as issue 4 lists it:
 *  - TRAINING (train + tune): AdvBench behaviours and strings, refusal_direction
 *    splits harmful/harmless train+val, red_instruct harmfulqa / catqa_english /
 *    dangerousqa, alpaca_eval instructions, self_instruct, vicuna_bench,
 *    mt_bench, GSM8K train questions, jailbreak_llms 2023_05_07 templates.
 *  - HELD OUT (evaluation only): everything loaded by `loadHeldOut`.
 * Overlaps between the two sides are removed from training (see `dedupeKey`),
 * except red_instruct adversarialqa, which is a verbatim copy of AdvBench (a
 * listed training file): it is dropped from evaluation instead.
 */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { parseCsvObjects } from "./csv.ts";
import type { ChatMessage } from "../../edge/classifier/model.ts";

export interface TextItem {
  text: string;
  /** 1 = harmful (should be steered), 0 = benign */
  label: 0 | 1;
  /** dataset/file it came from */
  source: string;
}

export interface Template {
  text: string;
  source: string;
}

export interface Dialogue {
  messages: ChatMessage[];
  label: 0 | 1;
  source: string;
}

/** Key used to find the same prompt in two files: lower-case words only. */
export function dedupeKey(s: string): string {
  return s.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, " ").trim();
}

const read = (dir: string, rel: string): string => readFileSync(join(dir, rel), "utf8");
const readJson = (dir: string, rel: string): unknown => JSON.parse(read(dir, rel));
const jsonl = (dir: string, rel: string): Record<string, unknown>[] =>
  read(dir, rel)
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, unknown>);

function items(texts: Iterable<string>, label: 0 | 1, source: string): TextItem[] {
  const out: TextItem[] = [];
  for (const t of texts) if (typeof t === "string" && t.trim()) out.push({ text: t.trim(), label, source });
  return out;
}

function flattenStrings(v: unknown, out: string[] = []): string[] {
  if (typeof v === "string") out.push(v);
  else if (Array.isArray(v)) for (const x of v) flattenStrings(x, out);
  else if (v && typeof v === "object") for (const x of Object.values(v)) flattenStrings(x, out);
  return out;
}

const instructions = (v: unknown): string[] => (v as { instruction: string }[]).map((x) => x.instruction);

/** Placeholders that jailbreak templates use for the user's request. */
const PLACEHOLDER = /\[INSERT PROMPT HERE\\?\]|\[PROMPT\]|\{prompt\}|\[INSERT ANY QUESTION HERE\]|\[INSERT PROMPT\]/gi;

/** Puts a request into a jailbreak template: at its placeholder(s), else after it. */
export function wrapInTemplate(template: string, request: string): string {
  if (PLACEHOLDER.test(template)) {
    PLACEHOLDER.lastIndex = 0;
    return template.replace(PLACEHOLDER, () => request);
  }
  return `${template.trimEnd()}\n\n${request}`;
}

export interface TrainingData {
  harmful: TextItem[];
  benign: TextItem[];
  templates: Template[];
}

/** Every training-side file (before removing overlaps with held-out data). */
export function loadTrainingData(dir: string): TrainingData {
  const harmful: TextItem[] = [
    ...items(parseCsvObjects(read(dir, "advbench/harmful_behaviors.csv")).map((r) => r.goal), 1, "advbench/behaviors"),
    ...items(parseCsvObjects(read(dir, "advbench/harmful_strings.csv")).map((r) => r.target), 1, "advbench/strings"),
    ...items(instructions(readJson(dir, "refusal_direction/splits/harmful_train.json")), 1, "refusal_direction/harmful_train"),
    ...items(instructions(readJson(dir, "refusal_direction/splits/harmful_val.json")), 1, "refusal_direction/harmful_val"),
    ...items(flattenStrings(readJson(dir, "red_instruct/harmfulqa.json")), 1, "red_instruct/harmfulqa"),
    ...items(flattenStrings(readJson(dir, "red_instruct/catqa_english.json")), 1, "red_instruct/catqa"),
    ...items(flattenStrings(readJson(dir, "red_instruct/dangerousqa.json")), 1, "red_instruct/dangerousqa"),
  ];
  const benign: TextItem[] = [
    ...items(instructions(readJson(dir, "refusal_direction/splits/harmless_train.json")), 0, "refusal_direction/harmless_train"),
    ...items(instructions(readJson(dir, "refusal_direction/splits/harmless_val.json")), 0, "refusal_direction/harmless_val"),
    ...items(instructions(readJson(dir, "alpaca_eval/outputs.json")), 0, "alpaca_eval"),
    ...items(jsonl(dir, "self_instruct/seed_tasks.jsonl").map((r) => r.instruction as string), 0, "self_instruct/seed"),
    ...items(jsonl(dir, "self_instruct/user_oriented_instructions.jsonl").map((r) => r.instruction as string), 0, "self_instruct/user"),
    ...items(jsonl(dir, "vicuna_bench/question.jsonl").flatMap((r) => r.turns as string[]), 0, "vicuna_bench"),
    ...items(jsonl(dir, "mt_bench/question.jsonl").flatMap((r) => r.turns as string[]), 0, "mt_bench"),
    ...items(jsonl(dir, "gsm8k/train.jsonl").map((r) => r.question as string), 0, "gsm8k/train"),
  ];
  const templates: Template[] = [];
  const seen = new Set<string>();
  for (const r of parseCsvObjects(read(dir, "jailbreak_llms/jailbreak_prompts_2023_05_07.csv"))) {
    const k = dedupeKey(r.prompt ?? "");
    if (!k || seen.has(k)) continue;
    seen.add(k);
    templates.push({ text: r.prompt, source: "jailbreak_llms/2023_05_07" });
  }
  return { harmful, benign, templates };
}

export interface HeldOutData {
  /** direct harmful requests, headline recall set */
  directHarmful: TextItem[];
  /** harmful by source but reported apart (copyright, regulated-advice policies, CoSafe single prompts) */
  otherHarmful: TextItem[];
  /** benign instructions (headline FPR set) */
  benignInstructions: TextItem[];
  /** over-refusal probes: XSTest safe, JailbreakBench benign */
  xstestSafe: TextItem[];
  jbbBenign: TextItem[];
  /** capability benchmark questions */
  gsm8kTest: TextItem[];
  capability: TextItem[];
  /** 2023_12_25 templates not in 2023_05_07 (deduped on normalised text) */
  newTemplates: Template[];
  /** JailbreakBench attack artifacts (PAIR, GCG, JBC, random search prompts) */
  jbbAttacks: TextItem[];
  /** CoSafe multi-turn dialogues (all attacks) */
  multiTurn: Dialogue[];
}

const FORBIDDEN_ADVICE_POLICIES = new Set(["Political Lobbying", "Legal Opinion", "Financial Advice", "Health Consultation", "Gov Decision"]);

interface JbbJailbreak {
  prompt?: string | null;
  response?: string | null;
  jailbroken?: boolean;
}

/** JailbreakBench's attack artifacts (held out), file by file: the attack method and its jailbreaks. */
function jbbArtifacts(dir: string): { method: string; jailbreaks: JbbJailbreak[] }[] {
  const out: { method: string; jailbreaks: JbbJailbreak[] }[] = [];
  const artDir = join(dir, "jailbreakbench/artifacts");
  for (const method of readdirSync(artDir).sort()) {
    for (const kind of readdirSync(join(artDir, method)).sort()) {
      if (kind.endsWith(".json")) continue;
      for (const f of readdirSync(join(artDir, method, kind)).sort()) {
        const art = readJson(dir, `jailbreakbench/artifacts/${method}/${kind}/${f}`) as { jailbreaks?: JbbJailbreak[] };
        out.push({ method, jailbreaks: art.jailbreaks ?? [] });
      }
    }
  }
  return out;
}

/**
 * Assistant answers, to score as fabricated assistant turns (edge/risk/served.ts):
 * JailbreakBench's target models' responses to its attacks, jailbroken
 * (harmful) or not (mostly refusals naming the request), and MT-Bench's GPT-4
 * reference answers (benign). None is trained on.
 */
export function loadAssistantAnswers(dir: string): { jailbroken: string[]; refused: string[]; benign: string[] } {
  const jailbroken: string[] = [];
  const refused: string[] = [];
  for (const { jailbreaks } of jbbArtifacts(dir)) {
    for (const j of jailbreaks) if (typeof j.response === "string" && j.response.trim()) (j.jailbroken ? jailbroken : refused).push(j.response);
  }
  const benign = read(dir, "mt_bench/reference_answer/gpt-4.jsonl")
    .split("\n")
    .filter((l) => l.trim())
    .flatMap((l) => (JSON.parse(l) as { choices: { turns: string[] }[] }).choices[0]?.turns ?? []);
  return { jailbroken, refused, benign };
}

export function loadHeldOut(dir: string): HeldOutData {
  const hb = parseCsvObjects(read(dir, "harmbench/harmbench_behaviors_text_all.csv"));
  const hbText = (r: Record<string, string>) => (r.ContextString ? `${r.ContextString}\n\n${r.Behavior}` : r.Behavior);
  const xs = parseCsvObjects(read(dir, "xstest/xstest_prompts.csv"));
  const fq = parseCsvObjects(read(dir, "jailbreak_llms/forbidden_question_set.csv"));
  const directHarmful: TextItem[] = [
    ...items(hb.filter((r) => r.FunctionalCategory !== "copyright").map(hbText), 1, "harmbench"),
    ...items(parseCsvObjects(read(dir, "strongreject/strongreject_dataset.csv")).map((r) => r.forbidden_prompt), 1, "strongreject"),
    ...items(parseCsvObjects(read(dir, "jailbreakbench/behaviors.csv")).map((r) => r.Goal), 1, "jailbreakbench/harmful"),
    ...items(read(dir, "malicious_instruct/MaliciousInstruct.txt").split("\n"), 1, "malicious_instruct"),
    ...items(parseCsvObjects(read(dir, "simple_safety_tests/SimpleSafetyTests - test cases.csv")).map((r) => r.prompts_final), 1, "simple_safety_tests"),
    ...items(xs.filter((r) => r.label === "unsafe").map((r) => r.prompt), 1, "xstest/unsafe"),
    ...items(fq.filter((r) => !FORBIDDEN_ADVICE_POLICIES.has(r.content_policy_name)).map((r) => r.question), 1, "forbidden_questions/harm"),
    ...items(flattenStrings(readJson(dir, "red_instruct/adversarialqa.json")), 1, "red_instruct/adversarialqa"),
  ];
  const cosafeSingle: string[] = [];
  for (const f of readdirSync(join(dir, "cosafe/Single_Prompt")).sort()) {
    for (const l of read(dir, `cosafe/Single_Prompt/${f}`).split("\n")) if (l.trim()) cosafeSingle.push((JSON.parse(l) as [string, number])[0]);
  }
  const otherHarmful: TextItem[] = [
    ...items(hb.filter((r) => r.FunctionalCategory === "copyright").map(hbText), 1, "harmbench/copyright"),
    ...items(fq.filter((r) => FORBIDDEN_ADVICE_POLICIES.has(r.content_policy_name)).map((r) => r.question), 1, "forbidden_questions/advice"),
    ...items(cosafeSingle, 1, "cosafe/single_prompt"),
  ];
  const benignInstructions = items(instructions(readJson(dir, "refusal_direction/splits/harmless_test.json")), 0, "refusal_direction/harmless_test");
  const xstestSafe = items(xs.filter((r) => r.label === "safe").map((r) => r.prompt), 0, "xstest/safe");
  const jbbBenign = items(parseCsvObjects(read(dir, "jailbreakbench/benign-behaviors.csv")).map((r) => r.goal), 0, "jailbreakbench/benign");
  const gsm8kTest = items(jsonl(dir, "gsm8k/test.jsonl").map((r) => r.question as string), 0, "gsm8k/test");
  const mmlu: string[] = [];
  for (const f of readdirSync(join(dir, "mmlu/test")).sort()) mmlu.push(...parseCsvObjects(read(dir, `mmlu/test/${f}`)).map((r) => r.question));
  const capability: TextItem[] = [
    ...items(mmlu, 0, "mmlu/test"),
    ...items(jsonl(dir, "arc_challenge/ARC-Challenge-Test.jsonl").map((r) => (r.question as { stem: string }).stem), 0, "arc_challenge/test"),
    ...items(parseCsvObjects(read(dir, "truthfulqa/TruthfulQA.csv")).map((r) => r.Question), 0, "truthfulqa"),
  ];
  const old = new Set(parseCsvObjects(read(dir, "jailbreak_llms/jailbreak_prompts_2023_05_07.csv")).map((r) => dedupeKey(r.prompt ?? "")));
  const newTemplates: Template[] = [];
  for (const r of parseCsvObjects(read(dir, "jailbreak_llms/jailbreak_prompts_2023_12_25.csv"))) {
    const k = dedupeKey(r.prompt ?? "");
    if (!k || old.has(k)) continue;
    old.add(k);
    newTemplates.push({ text: r.prompt, source: "jailbreak_llms/2023_12_25-new" });
  }
  const jbbAttacks: TextItem[] = [];
  for (const { method, jailbreaks } of jbbArtifacts(dir)) {
    for (const j of jailbreaks) {
      if (typeof j.prompt === "string" && j.prompt.trim()) jbbAttacks.push({ text: j.prompt, label: 1, source: `jbb-artifacts/${method}` });
    }
  }
  const multiTurn: Dialogue[] = [];
  for (const f of readdirSync(join(dir, "cosafe/CoSafe_datasets")).sort()) {
    for (const l of read(dir, `cosafe/CoSafe_datasets/${f}`).split("\n")) {
      if (l.trim()) multiTurn.push({ messages: JSON.parse(l) as ChatMessage[], label: 1, source: `cosafe/${f.replace(/\.json$/, "")}` });
    }
  }
  return { directHarmful, otherHarmful, benignInstructions, xstestSafe, jbbBenign, gsm8kTest, capability, newTemplates, jbbAttacks, multiTurn };
}

/** Normalised keys of every held-out prompt (for removing overlaps from training). */
export function heldOutKeys(h: HeldOutData): Set<string> {
  const keys = new Set<string>();
  const add = (t: string) => keys.add(dedupeKey(t));
  for (const list of [h.directHarmful, h.otherHarmful, h.benignInstructions, h.xstestSafe, h.jbbBenign, h.gsm8kTest, h.capability, h.jbbAttacks]) {
    for (const it of list) if (it.source !== "red_instruct/adversarialqa") add(it.text);
  }
  for (const t of h.newTemplates) add(t.text);
  for (const d of h.multiTurn) for (const m of d.messages) if (typeof m.content === "string") add(m.content);
  return keys;
}

/**
 * Keeps the held-out items whose normalised text is in no training file and
 * counts the dropped ones per source in `dropped` (red_instruct adversarialqa,
 * a verbatim copy of AdvBench, goes whole this way).
 */
export function unseenFilter(tr: TrainingData): { unseen: (xs: TextItem[]) => TextItem[]; dropped: Record<string, number> } {
  const trainKeys = new Set<string>([...tr.harmful, ...tr.benign, ...tr.templates].map((x) => dedupeKey(x.text)));
  const dropped: Record<string, number> = {};
  const unseen = (xs: TextItem[]) =>
    xs.filter((x) => {
      if (!trainKeys.has(dedupeKey(x.text))) return true;
      dropped[x.source] = (dropped[x.source] ?? 0) + 1;
      return false;
    });
  return { unseen, dropped };
}
