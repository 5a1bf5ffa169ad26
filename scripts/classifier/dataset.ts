/**
 * Builds the labelled training/validation examples from the training-side files.
 *
 * - Overlaps with held-out prompts (normalised text) are removed first.
 * - Every prompt and every jailbreak template goes to validation with
 *   probability `valFrac`, by a seeded hash of its normalised text, so
 *   duplicates land on the same side and validation templates are unseen.
 * - Each template is combined with `perTemplateHarmful` harmful and
 *   `perTemplateBenign` harmless requests drawn (seeded) from the same side.
 *   A wrapped example takes the request's label: the classifier must read the
 *   request inside the template, not flag every template.
 */
import { NOT_A_REQUEST_SOURCES } from "./augment.ts";
import { dedupeKey, wrapInTemplate, type TextItem, type Template, type TrainingData } from "./data.ts";
import { hashString, mulberry32 } from "./train-lib.ts";

export interface LabelledText {
  text: string;
  y: 0 | 1;
  source: string;
  kind: "direct" | "wrapped";
}

export interface BuildOptions {
  seed: number;
  valFrac: number;
  perTemplateHarmful: number;
  perTemplateBenign: number;
  /**
   * "random": validation = a seeded random `valFrac` of every file (the shipped setting).
   * "shift": validation = whole files (SHIFT_VAL_SOURCES) plus a random `valFrac` of
   * templates, to measure how the model transfers to unseen sources (used only
   * to compare settings; all on training-side files).
   */
  valMode?: "random" | "shift";
  /** add question/imperative rephrasings of training prompts (see `formVariants`); default true */
  augmentForms?: boolean;
}

const HOW_TO = /^(.{0,120}?)\bhow to ([^.?!\n]{3,200}?)[.?!]?\s*$/i;
const HOW_DO_I = /^how (?:do|can|could|would|should|might) (?:i|you|one|we|someone|people) ([^?\n]{3,200}?)\s*\?*\s*$/i;

/**
 * Surface-form counterfactuals of a short prompt, same label. In the training
 * files most harmful prompts are questions ("How can I ...?": 1,340 of 2,160 in
 * red_instruct) and most benign ones are imperatives (Alpaca: 157 of 18,793 are
 * "How do I" questions), so a model learns "How do I" itself as risk and flags
 * "How do I kill a Python process?". Rephrasing both classes both ways keeps the
 * content and removes that cue:
 *   "... how to X."  -> "How do I X?"      "How can I X?" -> "Explain how to X."
 */
export function formVariants(text: string): string[] {
  if (text.length > 240 || text.includes("\n")) return [];
  const q = HOW_DO_I.exec(text);
  if (q) return [`Explain how to ${q[1]}.`, `Give step-by-step instructions on how to ${q[1]}.`];
  const h = HOW_TO.exec(text);
  if (h) return [`How do I ${h[2]}?`, `How can I ${h[2]}?`];
  return [];
}

export const SHIFT_VAL_SOURCES = new Set([
  "red_instruct/catqa",
  "red_instruct/dangerousqa",
  "alpaca_eval",
  "self_instruct/seed",
  "self_instruct/user",
  "vicuna_bench",
  "mt_bench",
]);

export interface BuiltDataset {
  train: LabelledText[];
  val: LabelledText[];
  removedOverlaps: Record<string, number>;
  counts: Record<string, { train: number; val: number }>;
}

export function buildDataset(data: TrainingData, heldOut: Set<string>, opts: BuildOptions): BuiltDataset {
  const removedOverlaps: Record<string, number> = {};
  const isVal = (text: string) => hashString(dedupeKey(text), opts.seed) / 4294967296 < opts.valFrac;
  const keep = (it: { text: string; source: string }) => {
    if (heldOut.has(dedupeKey(it.text))) {
      removedOverlaps[it.source] = (removedOverlaps[it.source] ?? 0) + 1;
      return false;
    }
    return true;
  };
  const dedupe = <T extends { text: string }>(xs: T[]): T[] => {
    const seen = new Set<string>();
    return xs.filter((x) => {
      const k = dedupeKey(x.text);
      if (!k || seen.has(k)) return false;
      seen.add(k);
      return true;
    });
  };
  const harmful = dedupe(data.harmful.filter(keep));
  const benign = dedupe(data.benign.filter(keep));
  // A prompt in both classes (rare) is ambiguous: drop it from both.
  const harmfulKeys = new Set(harmful.map((x) => dedupeKey(x.text)));
  const benignKeys = new Set(benign.map((x) => dedupeKey(x.text)));
  const h2 = harmful.filter((x) => !benignKeys.has(dedupeKey(x.text)));
  const b2 = benign.filter((x) => !harmfulKeys.has(dedupeKey(x.text)));
  const templates = data.templates.filter(keep);

  const inVal = (x: { text: string; source: string }) =>
    opts.valMode === "shift" && !x.source.startsWith("jailbreak_llms") ? SHIFT_VAL_SOURCES.has(x.source) : isVal(x.text);
  const split = <T extends { text: string; source: string }>(xs: T[]) => ({ train: xs.filter((x) => !inVal(x)), val: xs.filter((x) => inVal(x)) });
  const H = split(h2);
  const B = split(b2);
  const T = split(templates);

  const counts: Record<string, { train: number; val: number }> = {};
  const count = (source: string, side: "train" | "val") => {
    counts[source] ??= { train: 0, val: 0 };
    counts[source][side]++;
  };
  const direct = (xs: TextItem[], side: "train" | "val"): LabelledText[] =>
    xs.flatMap((x) => {
      count(x.source, side);
      const out: LabelledText[] = [{ text: x.text, y: x.label, source: x.source, kind: "direct" as const }];
      // Rephrasings go to training only; validation keeps the files' own wording.
      if (side === "train" && opts.augmentForms !== false) {
        for (const v of formVariants(x.text)) {
          out.push({ text: v, y: x.label, source: `${x.source}+form`, kind: "direct" as const });
          count(`${x.source}+form`, side);
        }
      }
      return out;
    });
  const wrap = (ts: Template[], hs: TextItem[], bs: TextItem[], side: "train" | "val", seed: number): LabelledText[] => {
    const rng = mulberry32(seed);
    const out: LabelledText[] = [];
    // Requests for wrapping: short enough to be a request, not a document, one message (not a conversation's
    // turns), and a request (not an operator's system prompt).
    const request = (x: TextItem) => x.text.length <= 400 && !NOT_A_REQUEST_SOURCES.some((s) => x.source.startsWith(`${s}-`));
    const hPool = hs.filter((x) => request(x) && x.source !== "advbench/strings");
    const bPool = bs.filter(request);
    for (const t of ts) {
      for (let k = 0; k < opts.perTemplateHarmful; k++) {
        const r = hPool[Math.floor(rng() * hPool.length)];
        out.push({ text: wrapInTemplate(t.text, r.text), y: 1, source: `${t.source}+harmful`, kind: "wrapped" });
        count(`${t.source}+harmful`, side);
      }
      for (let k = 0; k < opts.perTemplateBenign; k++) {
        const r = bPool[Math.floor(rng() * bPool.length)];
        out.push({ text: wrapInTemplate(t.text, r.text), y: 0, source: `${t.source}+benign`, kind: "wrapped" });
        count(`${t.source}+benign`, side);
      }
    }
    return out;
  };
  const train = [...direct(H.train, "train"), ...direct(B.train, "train"), ...wrap(T.train, H.train, B.train, "train", opts.seed + 1)];
  const val = [...direct(H.val, "val"), ...direct(B.val, "val"), ...wrap(T.val, H.val, B.val, "val", opts.seed + 2)];
  return { train, val, removedOverlaps, counts };
}
