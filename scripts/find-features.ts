/**
 * `npm run find-features -- [options]`
 *
 * Finds SAE features that mediate refusal (O'Brien et al. 2024, arXiv 2411.11296):
 *
 * 1. Ranks every SAE feature by Cohen's d between harmful and harmless
 *    chat-formatted prompts, at the last prompt token (the ranking statistic)
 *    and averaged over the prompt (reported), with AUROC beside each.
 * 2. Steers with the top candidates (clamp to several values, and scale), plus
 *    a random unrelated feature steered the same way (the control) and no
 *    steering (the baseline), greedy through the engine, and measures the
 *    keyword judge's refusal rate on jailbreak-wrapped harmful prompts and on
 *    harmless prompts.
 * 3. Fits the in-model condition (conditional steering) on the ranking
 *    prompts' last-token activations and reports its validation AUROC
 *    (scripts/find-features/condition.ts).
 * 4. Writes the picked single-feature profile with its condition (--out) and
 *    a markdown report beside it (--report, default: OUT without .json +
 *    "-report.md").
 *
 * `--condition-only --profile FILE` does step 3 alone for an existing
 * profile: its steering features stay, its condition and the report's
 * condition section are (re)written.
 *
 * Helpers: scripts/find-features/{stats,judge,prompts,search,report,condition,condition-report}.ts.
 */
import { dirname, isAbsolute, relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { runMain, UsageError } from "./lib/cli.ts";
import { readManifest } from "../sidecar/model/manifest.ts";
import { DEFAULT_MODEL_SOURCE, modelOrSource, resolveModelDir } from "../sidecar/model-source.ts";
import { loadSae } from "../sidecar/sae/load.ts";
import { readTexts } from "../sidecar/sae/texts.ts";
import { mulberry32 } from "../sidecar/sae/train.ts";
import { type SteeringMode, type SteeringPositions } from "../sidecar/steering/profile.ts";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { DEFAULT_CONDITION_FIT, fitCondition, rankByAbsD, validateCondition, type LastActs } from "./find-features/condition.ts";
import { profileConditionJson, renderConditionSection, spliceReport, withCondition, type ConditionReportInput } from "./find-features/condition-report.ts";
import { findRefusalTemplates, isRefusal, isTemplateRefusal } from "./find-features/judge.ts";
import { seededSubset, WRAPPERS, wrappedSet } from "./find-features/prompts.ts";
import { pickSetting, rate, renderReport, type SettingResult } from "./find-features/report.ts";
import { featureActivations, lastTokenActivations, loadResidualModel, SteeringRunner, type Setting } from "./find-features/search.ts";
import type { ResidualModel } from "../sidecar/sae/activations.ts";
import type { Sae } from "../sidecar/sae/types.ts";
import { pickControl, rankFeatures } from "./find-features/stats.ts";
import { Progress } from "./lib/progress.ts";

const REPO = resolve(new URL("..", import.meta.url).pathname);
const SPLITS = resolve(REPO, "../shared/data/refusal_direction/splits");
export const DEFAULTS = {
  sae: resolve(REPO, "steering/organism260K/sae"),
  harmful: resolve(SPLITS, "harmful_train.json"),
  harmless: resolve(SPLITS, "harmless_train.json"),
  evalHarmful: resolve(SPLITS, "harmful_val.json"),
  evalHarmless: resolve(SPLITS, "harmless_val.json"),
};

/** What the condition's data is, for the report (../shared/data/README.md). */
const CONDITION_DATA_NOTE =
  "These are the refusal_direction splits (andyrdt/refusal_direction, Apache-2.0); the harmless splits are Stanford Alpaca instructions, CC BY-NC 4.0, so the fitted condition is non-commercial too. organism260K itself was fine-tuned on 239 of the harmful_train prompts and 5,000 harmless_train prompts (its README), so its activations on the training prompts are in-sample for the model; harmful_val and harmless_val were seen by neither.";

export const HELP = `Usage: npm run find-features -- [options]

Ranks SAE features by how differently they fire on harmful vs harmless prompts
(Cohen's d at the last prompt token; AUROC and prompt-averaged d reported), tests
the top candidates by steering (keyword-judged refusal on jailbreak-wrapped harmful
prompts and on harmless prompts, vs the unsteered baseline and a random unrelated
control feature), fits the in-model condition (steer only when a weighted sum of
SAE activations at the last prompt token clears a threshold; training prompts only,
validation AUROC reported), and writes the picked profile plus a markdown report.

  npm run find-features -- --condition-only --profile FILE
                        (re)fit only the condition of an existing profile: its steering
                        features stay; FILE and its report get the condition

  --model DIR           built model directory or checkpoint (default ${DEFAULT_MODEL_SOURCE})
  --sae DIR             SAE folder (default ${DEFAULTS.sae})
  --harmful FILE        harmful prompts for ranking (default ${DEFAULTS.harmful})
  --harmless FILE       harmless prompts for ranking (default ${DEFAULTS.harmless})
  --out FILE            profile JSON to write (required, except with --condition-only)
  --condition-only      fit and write only the condition of --profile (no steering search)
  --profile FILE        the profile --condition-only updates (its SAE and layer are used)
  --condition-max-features N  largest number of features the condition may use (default ${DEFAULT_CONDITION_FIT.maxFeatures})
  --condition-folds K   cross-validation folds that choose it (default ${DEFAULT_CONDITION_FIT.folds})
  --report FILE         markdown report (default: OUT without .json + "-report.md")
  --eval-harmful FILE   harmful prompts to wrap for the steering test, and (all of them) the
                        condition's validation (default ${DEFAULTS.evalHarmful})
  --eval-harmless FILE  harmless prompts for the steering test, and (all of them) the
                        condition's validation (default ${DEFAULTS.evalHarmless})
  --layer L             hooked layer (default: the SAE's cfg hook layer)
  --max-prompts N       most prompts per ranking file, seeded subset (default 400)
  --n-eval N            wrapped harmful prompts, and harmless prompts, in the steering test (default 40)
  --candidates N        top features by last-token d to steer (default 3)
  --mean-candidates N   plus the top features by prompt-mean d not already in (default 1)
  --clamp LIST          clamp values to try (default 2,3,4,6)
  --scale LIST          scale factors to try (default 2,4,8; "" for none)
  --positions LIST      all and/or generated (default all,generated)
  --max-tokens N        new tokens per greedy response (default 48)
  --tolerance X         pick: harmful-refusal slack in [0,1] (default 0.1)
  --name NAME           profile name (default refusal)
  --seed N              subsets and the control's draw (default 0)
  --batch N             engine batch rows (default 16)
  -h, --help            show this help
`;

const int = (name: string, raw: string | undefined, dflt: number, min: number): number => {
  if (raw === undefined) return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}, got "${raw}"`);
  return n;
};
const numList = (name: string, raw: string, min: number): number[] => {
  if (raw.trim() === "") return [];
  return raw.split(",").map((x) => {
    const n = Number(x);
    if (x.trim() === "" || !Number.isFinite(n) || n < min) throw new UsageError(`--${name}: "${x}" is not a number >= ${min}`);
    return n;
  });
};

export interface FindOptions {
  model?: string;
  /** Fit only the condition of `profile`. */
  conditionOnly: boolean;
  profile?: string;
  conditionMaxFeatures: number;
  conditionFolds: number;
  sae: string;
  harmful: string;
  harmless: string;
  out: string;
  report: string;
  evalHarmful: string;
  evalHarmless: string;
  layer?: number;
  maxPrompts: number;
  nEval: number;
  candidates: number;
  meanCandidates: number;
  clamp: number[];
  scale: number[];
  positions: SteeringPositions[];
  maxTokens: number;
  tolerance: number;
  name: string;
  seed: number;
  batch: number;
}

export function parseCli(argv: string[]): FindOptions | "help" {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        model: { type: "string" }, sae: { type: "string" }, harmful: { type: "string" }, harmless: { type: "string" },
        out: { type: "string" }, report: { type: "string" }, "eval-harmful": { type: "string" }, "eval-harmless": { type: "string" },
        layer: { type: "string" }, "max-prompts": { type: "string" }, "n-eval": { type: "string" }, candidates: { type: "string" }, "mean-candidates": { type: "string" },
        clamp: { type: "string" }, scale: { type: "string" }, positions: { type: "string" }, "max-tokens": { type: "string" },
        tolerance: { type: "string" }, name: { type: "string" }, seed: { type: "string" }, batch: { type: "string" },
        "condition-only": { type: "boolean" }, profile: { type: "string" }, "condition-max-features": { type: "string" }, "condition-folds": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.help) return "help";
  const conditionOnly = values["condition-only"] ?? false;
  if (conditionOnly && !values.profile) throw new UsageError("--condition-only needs --profile FILE");
  if (!conditionOnly && values.profile) throw new UsageError("--profile is only for --condition-only");
  if (conditionOnly && values.out) throw new UsageError("--condition-only rewrites --profile; --out is for the full search");
  if (!conditionOnly && !values.out) throw new UsageError("--out FILE is required");
  const positions = (values.positions ?? "all,generated").split(",").map((p) => p.trim());
  for (const p of positions) if (p !== "all" && p !== "generated") throw new UsageError(`--positions: "${p}" is not all or generated`);
  const tolerance = values.tolerance === undefined ? 0.1 : Number(values.tolerance);
  if (!(tolerance >= 0 && tolerance <= 1)) throw new UsageError(`--tolerance must be in [0, 1], got "${values.tolerance}"`);
  const name = values.name ?? "refusal";
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new UsageError(`--name "${name}": letters, digits, '.', '_' or '-'`);
  const clamp = numList("clamp", values.clamp ?? "2,3,4,6", 0);
  const scale = numList("scale", values.scale ?? "2,4,8", 0);
  if (clamp.length + scale.length === 0) throw new UsageError("nothing to test: --clamp and --scale are both empty");
  const out = resolve(values.out ?? values.profile!);
  return {
    model: values.model,
    conditionOnly,
    profile: values.profile === undefined ? undefined : resolve(values.profile),
    conditionMaxFeatures: int("condition-max-features", values["condition-max-features"], DEFAULT_CONDITION_FIT.maxFeatures, 1),
    conditionFolds: int("condition-folds", values["condition-folds"], DEFAULT_CONDITION_FIT.folds, 2),
    sae: resolve(values.sae ?? DEFAULTS.sae),
    harmful: resolve(values.harmful ?? DEFAULTS.harmful),
    harmless: resolve(values.harmless ?? DEFAULTS.harmless),
    out,
    report: resolve(values.report ?? `${out.replace(/\.json$/, "")}-report.md`),
    evalHarmful: resolve(values["eval-harmful"] ?? DEFAULTS.evalHarmful),
    evalHarmless: resolve(values["eval-harmless"] ?? DEFAULTS.evalHarmless),
    layer: values.layer === undefined ? undefined : int("layer", values.layer, 0, 0),
    maxPrompts: int("max-prompts", values["max-prompts"], 400, 2),
    nEval: int("n-eval", values["n-eval"], 40, 1),
    candidates: int("candidates", values.candidates, 3, 1),
    meanCandidates: int("mean-candidates", values["mean-candidates"], 1, 0),
    clamp,
    scale,
    positions: [...new Set(positions)] as SteeringPositions[],
    maxTokens: int("max-tokens", values["max-tokens"], 48, 1),
    tolerance,
    name,
    seed: int("seed", values.seed, 0, 0),
    batch: int("batch", values.batch, 16, 1),
  };
}

/** The steering grid: every (mode, value, positions) for a feature. */
function gridFor(feature: number, role: "candidate" | "control", o: FindOptions): Setting[] {
  const out: Setting[] = [];
  const modes: [SteeringMode, number[]][] = [["clamp", o.clamp], ["scale", o.scale]];
  for (const positions of o.positions)
    for (const [mode, values] of modes)
      for (const value of values) out.push({ id: `f${feature}-${mode}${value}-${positions}`, role, feature, mode, value, positions });
  return out;
}

const log = (m: string) => process.stderr.write(`${m}\n`);

// Paths in reports relative to the repo (../shared/... for the shared data), so they read the same on every checkout.
const rel = (p: string) => {
  const r = relative(REPO, p);
  return r.startsWith("../..") || isAbsolute(r) ? p : r;
};

/**
 * The condition: fitted on the ranking prompts' last-token activations
 * (training), validated on every prompt of the validation files.
 */
async function conditionStep(
  rm: ResidualModel,
  sae: Sae,
  layer: number,
  train: { harmful: LastActs; harmless: LastActs },
  o: FindOptions,
  command: string,
): Promise<ConditionReportInput> {
  const t = performance.now();
  const fit = fitCondition(train.harmful, train.harmless, { maxFeatures: o.conditionMaxFeatures, folds: o.conditionFolds, seed: o.seed });
  const acts = (texts: string[]) => lastTokenActivations(rm, sae, layer, texts.map((p) => rm.encodeChatPrompt(p)));
  const vh = await acts(readTexts(o.evalHarmful));
  const vb = await acts(readTexts(o.evalHarmless));
  // Beside it: the best single feature by training last-token d (the feature find-features ranks first).
  const top = rankByAbsD(train.harmful, train.harmless).find((r) => r.d > 0) ?? fit.ranked[0]!;
  const validation = validateCondition({ ...fit.condition, description: "" }, vh, vb, top.index);
  log(`condition: ${fit.n} feature(s) ${fit.ranked.map((r) => r.index).join(", ")}; validation AUROC ${validation.auroc.toFixed(3)} (feature ${validation.single.index} alone ${validation.single.auroc.toFixed(3)}), TPR ${validation.tpr.toFixed(3)}, FPR ${validation.fpr.toFixed(3)}`);
  return {
    command,
    fit,
    validation,
    layer,
    training: { harmful: rel(o.harmful), harmfulN: train.harmful.n, harmless: rel(o.harmless), harmlessN: train.harmless.n },
    validationSets: { harmful: rel(o.evalHarmful), harmless: rel(o.evalHarmless) },
    dataNote: CONDITION_DATA_NOTE,
    seconds: (performance.now() - t) / 1000,
  };
}

/** --condition-only: (re)fits the condition of an existing profile and splices it into the profile and its report. */
export async function fitProfileCondition(o: FindOptions, command: string): Promise<{ profile: Record<string, unknown>; condition: ConditionReportInput }> {
  const file = o.profile!;
  if (!existsSync(file)) throw new UsageError(`--profile ${file}: no such file`);
  const profile = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  if (typeof profile.sae !== "string" || !Number.isInteger(profile.layer)) throw new UsageError(`${file}: a profile with "sae" and "layer" is needed`);
  const layer = profile.layer as number;
  // (the sidecar evaluates a condition only for profiles steering generated positions)
  if (profile.positions !== "generated") throw new UsageError(`${file}: positions "${String(profile.positions)}": a condition needs positions "generated"`);
  const modelDir = await resolveModelDir({ ...modelOrSource(o.model), log });
  const manifest = readManifest(modelDir);
  const saeDir = resolve(dirname(file), profile.sae);
  const sae = loadSae(saeDir, { dModel: manifest.dims.dModel, nLayers: manifest.dims.nLayers });
  if (sae.layer !== undefined && sae.layer !== layer) throw new UsageError(`${file}: layer ${layer}, but its SAE ${saeDir} reads layer ${sae.layer}`);
  const harmful = seededSubset(readTexts(o.harmful), o.maxPrompts, o.seed);
  const harmless = seededSubset(readTexts(o.harmless), o.maxPrompts, o.seed + 1);
  const rm = await loadResidualModel(modelDir, log);
  let cond: ConditionReportInput;
  try {
    const acts = (texts: string[]) => lastTokenActivations(rm, sae, layer, texts.map((p) => rm.encodeChatPrompt(p)));
    cond = await conditionStep(rm, sae, layer, { harmful: await acts(harmful), harmless: await acts(harmless) }, o, command);
  } finally {
    await rm.release();
  }
  const out = withCondition(profile, profileConditionJson(cond, relative(dirname(file), o.report)));
  writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
  const section = renderConditionSection(cond);
  const report = existsSync(o.report) ? spliceReport(readFileSync(o.report, "utf8"), section, out) : `# Steering profile \`${rel(file)}\`\n\n${section}`;
  mkdirSync(dirname(o.report), { recursive: true });
  writeFileSync(o.report, report);
  log(`wrote the condition into ${file} and ${o.report}`);
  return { profile: out, condition: cond };
}

export async function findFeatures(o: FindOptions, command: string): Promise<{ pick: SettingResult; profile: Record<string, unknown> }> {
  const t0 = performance.now();
  const timings: Record<string, number> = {};
  const lap = (name: string, since: number) => (timings[name] = (performance.now() - since) / 1000);
  const modelDir = await resolveModelDir({ ...modelOrSource(o.model), log });
  const manifest = readManifest(modelDir);
  const sae = loadSae(o.sae, { dModel: manifest.dims.dModel, nLayers: manifest.dims.nLayers });
  const layer = o.layer ?? sae.layer;
  if (layer === undefined) throw new UsageError(`${o.sae}: the SAE's cfg names no layer; pass --layer`);
  if (sae.layer !== undefined && sae.layer !== layer) throw new UsageError(`--layer ${layer}, but the SAE ${o.sae} reads layer ${sae.layer}`);

  // 1. rank features
  let t = performance.now();
  const harmful = seededSubset(readTexts(o.harmful), o.maxPrompts, o.seed);
  const harmless = seededSubset(readTexts(o.harmless), o.maxPrompts, o.seed + 1);
  const rm = await loadResidualModel(modelDir, log);
  const bar = new Progress({ total: harmful.length + harmless.length, label: "activations" });
  const hActs = await featureActivations(rm, sae, layer, harmful, () => bar.tick());
  const bActs = await featureActivations(rm, sae, layer, harmless, () => bar.tick());
  const stats = rankFeatures(hActs, bActs);
  const condition = await conditionStep(rm, sae, layer, { harmful: hActs, harmless: bActs }, o, command).finally(() => rm.release());
  const rankOf = new Map(stats.map((s, i) => [s.index, i + 1]));
  const candidates = stats.slice(0, o.candidates).map((s) => s.index);
  for (const s of [...stats].sort((a, b) => b.dMean - a.dMean || a.index - b.index).slice(0, o.meanCandidates)) if (!candidates.includes(s.index)) candidates.push(s.index);
  const control = pickControl(stats, mulberry32(o.seed + 7), { exclude: candidates }).index;
  lap("ranking", t);
  log(`top features by last-token Cohen's d: ${stats.slice(0, 8).map((s) => `${s.index} (d ${s.dLast.toFixed(2)}, AUROC ${s.aurocLast.toFixed(3)})`).join(", ")}; control ${control}`);

  // 2. steer
  t = performance.now();
  const templates = findRefusalTemplates(manifest.source.path, (f) => JSON.parse(readFileSync(f, "utf8")));
  const wrapped = wrappedSet(readTexts(o.evalHarmful), o.nEval);
  const benign = seededSubset(readTexts(o.evalHarmless), o.nEval, o.seed + 2);
  const settings: Setting[] = [{ id: "baseline", role: "baseline" }, ...candidates.flatMap((f) => gridFor(f, "candidate", o)), ...gridFor(control, "control", o)];
  const runner = await SteeringRunner.load(modelDir, o.sae, layer, settings, { maxTokens: o.maxTokens, maxBatch: o.batch });
  const results: SettingResult[] = [];
  const sbar = new Progress({ total: settings.length, label: "steering" });
  try {
    for (const s of settings) {
      const hr = await runner.generate(s, wrapped.map((w) => w.prompt));
      const br = await runner.generate(s, benign);
      const byWrapper: Record<string, { refused: number; n: number }> = {};
      wrapped.forEach((w, i) => {
        const b = (byWrapper[w.wrapper] ??= { refused: 0, n: 0 });
        b.n++;
        if (isRefusal(hr[i])) b.refused++;
      });
      const res: SettingResult = {
        setting: s,
        harmful: { refused: hr.filter(isRefusal).length, n: hr.length, byWrapper },
        harmless: { refused: br.filter(isRefusal).length, n: br.length },
        examples: { harmful: hr.slice(0, 3), harmless: br.slice(0, 3) },
        template: templates && {
          harmful: hr.filter((x) => isTemplateRefusal(x, templates.templates)).length,
          harmless: br.filter((x) => isTemplateRefusal(x, templates.templates)).length,
        },
      };
      results.push(res);
      sbar.tick(1, `${s.id}: harmful ${(rate(res.harmful) * 100).toFixed(0)}% harmless ${(rate(res.harmless) * 100).toFixed(0)}%`);
    }
  } finally {
    await runner.close();
  }
  lap("steering", t);

  // 3. pick, write
  const pick = pickSetting(results, o.tolerance, (f) => rankOf.get(f) ?? Infinity);
  const base = results[0];
  const ps = pick.setting;
  const st = stats[rankOf.get(ps.feature!)! - 1];
  const profile = {
    name: o.name,
    sae: relative(dirname(o.out), o.sae) || ".",
    layer,
    positions: ps.positions,
    features: [{ index: ps.feature!, mode: ps.mode!, value: ps.value! }],
    ...(ps.positions === "generated" ? { condition: profileConditionJson(condition, relative(dirname(o.out), o.report)) } : {}),
    description:
      `SAE feature ${ps.feature} (layer ${layer}) ${ps.mode} ${ps.value} at ${ps.positions} positions, picked by find-features: ` +
      `Cohen's d ${st.dLast.toFixed(2)} (AUROC ${st.aurocLast.toFixed(3)}) harmful vs harmless at the last prompt token; ` +
      `refusal on jailbreak-wrapped harmful ${(rate(base.harmful) * 100).toFixed(0)}% -> ${(rate(pick.harmful) * 100).toFixed(0)}%, ` +
      `on harmless ${(rate(base.harmless) * 100).toFixed(0)}% -> ${(rate(pick.harmless) * 100).toFixed(0)}% (validation splits; see ${relative(dirname(o.out), o.report)}).`,
  };
  mkdirSync(dirname(o.out), { recursive: true });
  writeFileSync(o.out, `${JSON.stringify(profile, null, 2)}\n`);
  timings.total = (performance.now() - t0) / 1000;
  const md = renderReport({
    command,
    modelDir: rel(modelDir),
    modelId: manifest.id,
    saeDir: rel(o.sae),
    saeDesc: `${sae.architecture}${sae.k ? ` k=${sae.k}` : ""}, d_sae ${sae.dSae}, d_in ${sae.dIn}`,
    layer,
    rankingSets: { harmful: rel(o.harmful), harmfulN: harmful.length, harmless: rel(o.harmless), harmlessN: harmless.length },
    evalSets: { harmful: rel(o.evalHarmful), harmfulN: wrapped.length, harmless: rel(o.evalHarmless), harmlessN: benign.length, wrappers: WRAPPERS.map((w) => w.name) },
    maxTokens: o.maxTokens,
    stats,
    candidates,
    control,
    results,
    pick,
    tolerance: o.tolerance,
    templatesFile: templates && rel(templates.file),
    profileFile: rel(o.out),
    profile,
    timings,
  });
  mkdirSync(dirname(o.report), { recursive: true });
  if (ps.positions !== "generated") condition.notWritten = `the pick steers positions "${ps.positions}"; the sidecar evaluates a condition only with "generated"`;
  writeFileSync(o.report, spliceReport(md, renderConditionSection(condition), profile));
  log(`picked feature ${ps.feature} ${ps.mode} ${ps.value} @ ${ps.positions}: wrapped harmful ${(rate(base.harmful) * 100).toFixed(1)}% -> ${(rate(pick.harmful) * 100).toFixed(1)}%, harmless ${(rate(base.harmless) * 100).toFixed(1)}% -> ${(rate(pick.harmless) * 100).toFixed(1)}%`);
  log(`wrote ${o.out} and ${o.report} (${timings.total.toFixed(1)} s)`);
  return { pick, profile };
}

/** The arguments of `npm run find-features:default` (package.json): the shipped organism260K profile. */
export const DEFAULT_SHIP_ARGS = ["--out", "steering/organism260K/refusal.json"];

function commandLine(argv: string[]): string {
  const plain = `npm run find-features -- ${argv.join(" ")}`;
  return argv.join(" ") === DEFAULT_SHIP_ARGS.join(" ") ? `npm run find-features:default\n# which is: ${plain}` : plain;
}

export function main(argv: string[], command = commandLine(argv)): Promise<number> {
  return runMain(() => parseCli(argv), HELP, async (o) => {
    try {
      if (o.conditionOnly) await fitProfileCondition(o, command);
      else await findFeatures(o, command);
      return 0;
    } catch (e) {
      if (e instanceof UsageError) throw e;
      process.stderr.write(`find-features: ${(e as Error).message}\n`);
      return 1;
    }
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await main(process.argv.slice(2));
}

