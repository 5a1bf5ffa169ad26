/**
 * The in-model condition in find-features' output: its section of the
 * markdown report, its description in the profile, and the splice that puts
 * both into an existing profile and report (--condition-only).
 */
import type { Condition, ConditionFit, ConditionValidation } from "./condition.ts";

export interface ConditionReportInput {
  command: string;
  fit: ConditionFit;
  validation: ConditionValidation;
  layer: number;
  training: { harmful: string; harmfulN: number; harmless: string; harmlessN: number };
  validationSets: { harmful: string; harmless: string };
  /** Licences of the data the condition saw, one line. */
  dataNote: string;
  seconds: number;
  /** Why the profile does not carry the condition, when it does not. */
  notWritten?: string;
}

const f3 = (x: number) => x.toFixed(3);
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const num = (x: number) => Number(x.toPrecision(6));

/** The formula as text: "-1 * f865 + 0.471 * f396 >= -0.477". */
export function conditionFormula(c: Pick<Condition, "features" | "threshold">): string {
  const terms = c.features.map((f, i) => `${i === 0 ? (f.weight < 0 ? "-" : "") : f.weight < 0 ? " - " : " + "}${f3(Math.abs(f.weight))} * f${f.index}`);
  return `${terms.join("")} >= ${f3(c.threshold)}`;
}

/** The condition as the profile stores it (rounded to 6 significant digits), with its description. */
export function profileConditionJson(r: ConditionReportInput, reportFile: string): Condition {
  const c = r.fit.condition;
  const rounded = { features: c.features.map((f) => ({ index: f.index, weight: num(f.weight) })), threshold: num(c.threshold) };
  const v = r.validation;
  return {
    ...rounded,
    description:
      `Steer when ${conditionFormula(rounded)} (SAE activations at the last prompt token, layer ${r.layer}, unsteered). ` +
      `Fitted by find-features on ${r.training.harmfulN} harmful_train vs ${r.training.harmlessN} harmless_train prompts: ` +
      `N = ${r.fit.n} of 1..${r.fit.options.maxFeatures} features by ${r.fit.options.folds}-fold out-of-fold AUROC, L2 logistic regression, Youden threshold on out-of-fold scores. ` +
      `Validation (harmful_val ${v.n.harmful} vs harmless_val ${v.n.harmless}): AUROC ${f3(v.auroc)} (feature ${v.single.index} alone ${f3(v.single.auroc)}), TPR ${f3(v.tpr)}, FPR ${f3(v.fpr)} (see ${reportFile}).`,
  };
}

export function renderConditionSection(r: ConditionReportInput): string {
  const { fit, validation: v } = r;
  const L: string[] = [];
  const p = (s = "") => L.push(s);
  p("## In-model condition");
  p();
  p("Conditional steering (issue 16): with a conditional request, the sidecar steers only when the profile's condition holds on the unsteered residual at the last prompt token. Fitted by:");
  p();
  p("```sh");
  p(r.command);
  p("```");
  p();
  if (r.notWritten) p(`Not written into the profile: ${r.notWritten}.\n`);
  p(`**Steer when ${conditionFormula(fit.condition)}**, f_i = SAE feature i's activation at the last prompt token (layer ${r.layer}).`);
  p();
  p(`- Data: training only. Fit on ${r.training.harmfulN} harmful prompts from \`${r.training.harmful}\` and ${r.training.harmlessN} harmless from \`${r.training.harmless}\` (the ranking prompts above), chat-formatted. Validation (reported, never used to choose): every prompt of \`${r.validationSets.harmful}\` (${v.n.harmful}) and \`${r.validationSets.harmless}\` (${v.n.harmless}). ${r.dataNote}`);
  p(`- Candidates: features by |Cohen's d| at the last token (either sign: a feature that fires on harmless prompts counts as evidence against, with a negative weight). N, the number kept, by ${fit.options.folds}-fold stratified cross-validation on the training prompts (each fold ranks and fits on its own training part): the smallest N within ${fit.options.nTolerance} of the best pooled out-of-fold AUROC.`);
  p(`- Weights: logistic regression on the standardised activations (L2 ${fit.options.l2} on the weights, Newton's method), folded back onto raw activations, the intercept moved into the threshold, then all scaled so the largest |weight| is 1 (a positive scale changes no decision).`);
  p(`- Threshold: Youden's J (max TPR - FPR) on the out-of-fold training scores. The condition decides only inside the edge's uncertain band, where harmful and benign prompts are both common and both errors cost; the whole gate's false-positive rate is held by the band's upper edge, above which the edge alone steers.`);
  p(`- Time: ${r.seconds.toFixed(1)} s.`);
  p();
  p("| N features | " + fit.cvAuroc.map((_, i) => String(i + 1)).join(" | ") + " |");
  p("| --- | " + fit.cvAuroc.map(() => "---").join(" | ") + " |");
  p("| out-of-fold AUROC (training) | " + fit.cvAuroc.map((a, i) => (i + 1 === fit.n ? `**${f3(a)}**` : f3(a))).join(" | ") + " |");
  p();
  p("| feature | Cohen's d (last token, training) | weight (raw activation) |");
  p("| --- | --- | --- |");
  fit.ranked.forEach((x, i) => p(`| ${x.index} | ${x.d.toFixed(2)} | ${fit.condition.features[i]!.weight.toFixed(4)} |`));
  p();
  p("| | AUROC | TPR at the threshold | FPR at the threshold |");
  p("| --- | --- | --- | --- |");
  p(`| training, out-of-fold | ${f3(fit.oof.auroc)} | ${pct(fit.oof.tpr)} | ${pct(fit.oof.fpr)} |`);
  p(`| training, in-sample | ${f3(fit.train.auroc)} | ${pct(fit.train.tpr)} | ${pct(fit.train.fpr)} |`);
  p(`| **validation: the condition** | **${f3(v.auroc)}** | **${pct(v.tpr)}** (${v.n.harmful} harmful) | **${pct(v.fpr)}** (${v.n.harmless} harmless) |`);
  p(`| validation: feature ${v.single.index} alone (the top feature by last-token d) | ${f3(v.single.auroc)} | | |`);
  p();
  p(`On its own the condition is a weak gate (a ${pct(v.fpr)} false-positive rate on Alpaca-style instructions); it is meant for the prompts the edge classifier is unsure of, where its signal is the model's own.`);
  p();
  return L.join("\n");
}

/**
 * Puts the condition section into an existing report: replaces an earlier
 * one, else goes before "## Profile written"; the JSON block under
 * "## Profile written" becomes `profile`.
 */
export function spliceReport(report: string, section: string, profile: unknown): string {
  const parts = report.split(/^(?=## )/m);
  const isCond = (s: string) => s.startsWith("## In-model condition");
  const isProfile = (s: string) => s.startsWith("## Profile written");
  const kept = parts.filter((s) => !isCond(s));
  const at = kept.findIndex(isProfile);
  const body = `${section.trimEnd()}\n\n`;
  if (at < 0) return `${kept.join("").trimEnd()}\n\n${body}`;
  kept[at] = kept[at]!.replace(/```json\n[\s\S]*?\n```/, `\`\`\`json\n${JSON.stringify(profile, null, 2)}\n\`\`\``);
  kept.splice(at, 0, body);
  return kept.join("");
}

/** The profile JSON with `condition` set (before "description"), every other key and its order kept. */
export function withCondition(profile: Record<string, unknown>, condition: Condition): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, val] of Object.entries(profile)) {
    if (k === "condition") continue;
    if (k === "description") out.condition = condition;
    out[k] = val;
  }
  if (!("condition" in out)) out.condition = condition;
  return out;
}
