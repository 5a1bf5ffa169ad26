/**
 * Training under the served text rule (multiple-instance learning).
 *
 * The scorer judges a long text by the maximum of its whole-text logit and the
 * logits of its sentences (RiskModel.logit). Training on whole texts alone
 * never shows the model a sentence of a long benign text, so at serving time
 * the riskiest of 30 sentences of a history passage, a law exam question or a
 * jailbreak template around a harmless request decides its risk, and was never
 * trained to be low. So each long training example becomes a bag: its whole
 * text plus every sentence the scorer would score alone. Each step computes the
 * logit of every member, and the example's label and gradient go to the member
 * with the largest logit, the one the scorer would use:
 *
 *   benign long text:  the riskiest member is pushed down, so all of them end up low;
 *   harmful long text: the riskiest member (usually the request) is pushed up.
 *
 * A short text is a bag of one, so ordinary examples train as before.
 */
import { foldText } from "../../edge/classifier/features.ts";
import { pastLimits, sentenceCuts, windows, type SegmentRule } from "../../edge/classifier/model.ts";

/**
 * The texts the scorer takes the maximum over: the text itself, then (when its
 * folded form has at least minTextChars characters) each piece that
 * `sentenceCuts` marks as scored alone, as a slice of the folded text; and for
 * a text past the rule's limits, the same for each of its windows. The
 * scorer's logit of the text equals the maximum of `vectorLogit` over these
 * (bags.test.ts checks it; decoded readings aside, which the training texts
 * do not need).
 */
export function bagTexts(text: string, maxChars: number, seg: SegmentRule | undefined): string[] {
  if (!seg) return [text];
  const out = ruleTexts(text, maxChars, seg);
  // A text past the rule's limits is scored window by window too (RiskModel.readingLogit).
  if (pastLimits(text, maxChars, seg)) for (const w of windows(text, maxChars, seg)) out.push(...ruleTexts(w, maxChars, seg));
  return out;
}

/** The texts the rule takes its max over for one text as the featurizer reads it: the text, and its scored pieces. */
function ruleTexts(text: string, maxChars: number, seg: SegmentRule): string[] {
  const folded = foldText(text, maxChars);
  if (folded.length < seg.minTextChars) return [text];
  const { cuts, scored } = sentenceCuts(folded, seg);
  const out = [text];
  for (let p = 0; p < scored.length; p++) if (scored[p]) out.push(folded.slice(cuts[p], cuts[p + 1]));
  return out;
}

/** Bags laid out flat: members of bag b are rows offsets[b] .. offsets[b+1]-1 of `rows`. */
export interface Bags {
  rows: string[];
  offsets: Int32Array;
}

/** Bags of `texts`; `rules[i]` is text i's segment rule (undefined: a bag of the whole text alone). */
export function buildBags(texts: readonly string[], maxChars: number, rules: readonly (SegmentRule | undefined)[]): Bags {
  const rows: string[] = [];
  const offsets = new Int32Array(texts.length + 1);
  texts.forEach((t, b) => {
    for (const m of bagTexts(t, maxChars, rules[b])) rows.push(m);
    offsets[b + 1] = rows.length;
  });
  return { rows, offsets };
}
