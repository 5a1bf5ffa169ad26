/**
 * npm run eval:condition -- [options]
 *
 * The whole gate with the edge's third route on (issue 16): a gate risk in an
 * uncertain band goes to the sidecar as a conditional request and is steered
 * only when the steering profile's in-model condition holds. Two parts:
 *
 * 1. Training side: chooses the band for edge+condition (on the first stage's
 *    risk) and for all (on the risk after the encoder stage) on the first
 *    stage's validation split (condition-band.ts: the rule), leaving out every
 *    prompt the condition was fitted on or organism260K was fine-tuned on.
 * 2. Held out: the sets `npm run eval:classifier` scores (held-out-groups.ts),
 *    as decided by edge, edge+encoder, edge+condition and all at those bands
 *    (or --edge-band / --all-band), with issue 16's goals, and the greetings list.
 *
 * Prints markdown; --json writes every figure.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { RiskModel, type ChatMessage } from "../../edge/classifier/model.ts";
import { CONVERSATIONAL_CASES } from "../../edge/classifier/conversational-cases.ts";
import { parseProbeArtifact } from "../../edge/risk/second-stage.ts";
import { parseCli, intFlag, UsageError } from "../lib/cli.ts";
import { parseBand } from "../eval/condition-gate.ts";
import { chooseConditionBand, flagRate, gateFlag, type Band, type BandChoice, type BandExample } from "./condition-band.ts";
import { ConditionValues, type PromptInput } from "./condition-values.ts";
import { dedupeKey } from "./data.ts";
import type { LabelledText } from "./dataset.ts";
import { DEFAULT_PROBE_ARTIFACT, optInSetsOf, shippedSplit } from "./encoder-probe.ts";
import { GATE_GOALS, scoreGate, type Group } from "./eval-gate.ts";
import { DEFAULT_FIT, ORDINARY_BENIGN } from "./fit.ts";
import { heldOutGroups } from "./held-out-groups.ts";
import { auroc, quantile } from "./metrics.ts";
import { mulberry32, shuffle } from "./train-lib.ts";
import { DEFAULT_ARTIFACT, DEFAULT_DATA_DIR, REPO_ROOT } from "./paths.ts";

const DEFAULT_PROFILE = resolve(REPO_ROOT, "steering/organism260K/refusal.json");
const ORGANISM_SOURCES = resolve(REPO_ROOT, "../shared/models/organism260K/training_sources.json");

const HELP = `Usage: npm run eval:condition -- [options]

The edge's third route, in classification terms: a gate risk in the band [lo, hi)
is steered iff the steering profile's in-model condition holds (computed here with
the model and its SAE on the token ids the sidecar would prefill); at or above the
band steered, below it not. Chooses the bands on training-side data (the first
stage's validation split, minus every prompt the condition was fitted on or the
model was fine-tuned on), then scores the held-out sets of eval:classifier with
edge, edge+encoder, edge+condition and all.

Band rule: of the bands on a fixed risk grid that hold the first stage's threshold
(outside the band every decision is the first stage's own), the one maximising the
whole gate's balanced Youden J (mean recall over the harmful groups minus mean FPR
over the benign groups) among those whose FPR on ordinary benign instructions stays
<= ${DEFAULT_FIT.targetFpr} (or the first stage's own rate there, if higher); ties to the narrower
band. No band (the first stage alone) is one of the candidates.

Options:
  --profile FILE    steering profile with a "condition" (default steering/organism260K/refusal.json)
  --model DIR       model (default ../shared/models/organism260K, built on first use)
  --data DIR        data folder (default ../shared/data)
  --artifact FILE   first-stage artifact (default edge/classifier/risk-model.v2.json)
  --probe FILE      encoder-probe artifact (default edge/classifier/encoder-probe.v1.json)
  --seed N          held-out jailbreak-template pairing, as eval:classifier (default 7)
  --split-seed N    the first stage's training/validation split (default 42)
  --edge-band LO,HI use this band for edge+condition instead of the fitted one
  --all-band LO,HI  use this band for all instead of the fitted one
  --json FILE       also write every figure as JSON
  -h, --help        this help
`;

const log = (m: string) => process.stderr.write(`${m}\n`);

/** Training-side groups: the balanced J weighs each the same within its class. */
function valGroup(x: LabelledText): string {
  if (x.y === 1) return x.kind === "wrapped" ? "wrapped harmful" : x.source.startsWith("augment/contrast") ? "contrast-set harmful" : "direct harmful";
  if (x.kind === "wrapped") return "wrapped benign";
  if (ORDINARY_BENIGN(x)) return "ordinary benign";
  if (x.source.startsWith("augment/contrast")) return "contrast-set benign";
  return "background prose + harmfulqa fields";
}

/** Normalised texts of every prompt the condition was fitted on or organism260K was fine-tuned on. */
function conditionSeenKeys(dataDir: string): Set<string> {
  const keys = new Set<string>();
  for (const f of ["harmful_train", "harmless_train"]) {
    for (const r of JSON.parse(readFileSync(resolve(dataDir, `refusal_direction/splits/${f}.json`), "utf8")) as { instruction: string }[]) keys.add(dedupeKey(r.instruction));
  }
  const src = JSON.parse(readFileSync(ORGANISM_SOURCES, "utf8")) as { train_prompts: Record<string, [string, string][]> };
  for (const list of Object.values(src.train_prompts)) for (const [, text] of list) keys.add(dedupeKey(text));
  return keys;
}

type Risks = { r1: number[]; r12: number[]; holds: (boolean | undefined)[] };

/** First-stage risks, two-stage risks and condition outcomes of every prompt of `groups`, in group order. */
async function scoreAll(model: RiskModel, probe: string, cv: ConditionValues, groups: readonly Group[], label: string): Promise<Map<string, Risks>> {
  const gate = await scoreGate(model, probe, groups);
  const all: PromptInput[] = groups.flatMap((g) => g.texts);
  const vals = await cv.values(all, `condition (${label})`);
  const out = new Map<string, Risks>();
  let k = 0;
  for (const g of groups) {
    const r1 = g.texts.map((t) => (typeof t === "string" ? model.classify(t).risk : model.scoreConversation(t).risk));
    const holds = g.texts.map(() => cv.holds(vals[k++]));
    out.set(g.name, { r1, r12: gate.risks.get(g.name)!, holds });
  }
  return out;
}

const examples = (groups: readonly Group[], risks: Map<string, Risks>, which: "r1" | "r12"): BandExample[] =>
  groups.flatMap((g) => risks.get(g.name)![which].map((risk, i) => ({ group: g.name, y: g.label, risk, holds: risks.get(g.name)!.holds[i] })));

const f3 = (x: number) => x.toFixed(3);
const f4 = (x: number) => x.toFixed(4);
const bandText = (b: Band) => (b.lo === b.hi ? "none (first stage alone)" : `[${f4(b.lo)}, ${f4(b.hi)})`);

async function main(argv: string[]): Promise<number> {
  const parsed = parseCli(argv, {
    profile: { type: "string", default: DEFAULT_PROFILE },
    model: { type: "string" },
    data: { type: "string", default: DEFAULT_DATA_DIR },
    artifact: { type: "string", default: DEFAULT_ARTIFACT },
    probe: { type: "string", default: DEFAULT_PROBE_ARTIFACT },
    seed: { type: "string" },
    "split-seed": { type: "string" },
    "edge-band": { type: "string" },
    "all-band": { type: "string" },
    json: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  }, HELP);
  if ("exit" in parsed) return parsed.exit;
  const v = parsed.values;
  const seed = intFlag("seed", v.seed, { default: 7 });
  const splitSeed = intFlag("split-seed", v["split-seed"], { default: 42 });
  const band = (name: string, raw: string | undefined) => {
    if (raw === undefined) return undefined;
    try {
      return parseBand(raw);
    } catch (e) {
      throw new UsageError(`--${name}: ${(e as Error).message}`);
    }
  };
  const edgeBand = band("edge-band", v["edge-band"]);
  const allBand = band("all-band", v["all-band"]);
  const t0 = performance.now();
  const dataDir = resolve(REPO_ROOT, v.data!);
  const probe = resolve(REPO_ROOT, v.probe!);
  const artifactText = readFileSync(resolve(REPO_ROOT, v.artifact!), "utf8");
  const model = RiskModel.fromArtifact(artifactText);
  const t1 = model.threshold;
  const cv = await ConditionValues.load({ model: v.model, profile: resolve(REPO_ROOT, v.profile!), log });
  try {
    // 1. Training side: the bands.
    const seen = conditionSeenKeys(dataDir);
    const { val } = shippedSplit(dataDir, splitSeed, optInSetsOf(artifactText));
    const kept = val.filter((x) => !seen.has(dedupeKey(x.text)));
    const valGroups: Group[] = [];
    for (const x of kept) {
      const name = valGroup(x);
      let g = valGroups.find((y) => y.name === name);
      if (!g) valGroups.push((g = { name, label: x.y, texts: [] }));
      g.texts.push(x.text);
    }
    log(`training side: ${kept.length} of ${val.length} validation examples (${val.length - kept.length} left out: the condition's fit prompts or organism260K's training prompts)`);
    const valRisks = await scoreAll(model, probe, cv, valGroups, "training side");
    const opts = { pool: "ordinary benign", maxFpr: DEFAULT_FIT.targetFpr, firstThreshold: t1 };
    const fitEdge = chooseConditionBand(examples(valGroups, valRisks, "r1"), opts);
    const fitAll = chooseConditionBand(examples(valGroups, valRisks, "r12"), opts);
    const bands = { edgeCondition: edgeBand ?? fitEdge.band, all: allBand ?? fitAll.band };

    // 2. Held out.
    const h = heldOutGroups(dataDir, seed);
    const heldGroups: Group[] = [
      { name: "direct", label: 1, texts: h.directHarmful.map((x) => x.text) },
      { name: "wrapped", label: 1, texts: h.wrappedHarmful.map((x) => x.text) },
      { name: "attacks", label: 1, texts: h.jbbAttacks.map((x) => x.text) },
      { name: "multi", label: 1, texts: h.multiTurn.map((d) => d.messages as ChatMessage[]) },
      { name: "benign", label: 0, texts: h.benignInstructions.map((x) => x.text) },
      { name: "xstest", label: 0, texts: h.xstestSafe.map((x) => x.text) },
      { name: "jbbBenign", label: 0, texts: h.jbbBenign.map((x) => x.text) },
      { name: "gsm8k", label: 0, texts: h.gsm8k.map((x) => x.text) },
      { name: "capability", label: 0, texts: h.capability.map((x) => x.text) },
      { name: "wrappedBenign", label: 0, texts: h.wrappedBenign.map((x) => x.text) },
      { name: "greetings", label: 0, texts: [...CONVERSATIONAL_CASES] },
    ];
    const held = await scoreAll(model, probe, cv, heldGroups, "held out");
    const latency = await conditionLatency(cv, heldGroups.flatMap((g) => g.texts), 200, seed);
    const md = renderMarkdown({ latency, t1, probeBand: parseProbeArtifact(readFileSync(probe, "utf8")).band, valGroups, valRisks, fitEdge, fitAll, bands, heldGroups, held, dropped: h.dropped, kept: kept.length, valN: val.length, seconds: (performance.now() - t0) / 1000, argv });
    process.stdout.write(md);
    if (v.json) {
      const rates = (groups: Group[], risks: Map<string, Risks>) =>
        Object.fromEntries(groups.map((g) => [g.name, gateRates(risks.get(g.name)!, t1, bands)]));
      writeFileSync(resolve(REPO_ROOT, v.json), `${JSON.stringify({ threshold: t1, bands, fitted: { edgeCondition: fitEdge, all: fitAll }, training: rates(valGroups, valRisks), heldOut: rates(heldGroups, held) }, null, 2)}\n`);
    }
    return 0;
  } finally {
    await cv.close();
  }
}

/**
 * The condition's cost as a pass of its own (what the eval's condition gates
 * pay per in-band prompt): one prompt per call, after 10 warm-up calls, on a
 * seeded sample of prompts the sidecar would prefill. In the sidecar the value
 * comes out of the prefill the request makes anyway.
 */
async function conditionLatency(cv: ConditionValues, prompts: readonly PromptInput[], n: number, seed: number) {
  const rand = mulberry32(seed);
  const ids = shuffle([...prompts], rand).map((p) => cv.ids(p)).filter((x): x is number[] => x !== undefined).slice(0, n);
  for (const x of ids.slice(0, 10)) await cv.scorer.value(x);
  const ms: number[] = [];
  for (const x of ids) {
    const t = performance.now();
    await cv.scorer.value(x);
    ms.push(performance.now() - t);
  }
  return { n: ids.length, meanTokens: ids.reduce((a, x) => a + x.length, 0) / Math.max(1, ids.length), p50: quantile(ms, 0.5), p99: quantile(ms, 0.99) };
}

/** Per gate: the share of a group's prompts it steers; the share in each band; the condition alone. */
function gateRates(r: Risks, t1: number, bands: { edgeCondition: Band; all: Band }) {
  const x1 = r.r1.map((risk, i) => ({ risk, holds: r.holds[i] }));
  const x12 = r.r12.map((risk, i) => ({ risk, holds: r.holds[i] }));
  const n = r.r1.length;
  const share = (xs: boolean[]) => (n ? xs.filter(Boolean).length / n : 0);
  const withValue = r.holds.filter((h) => h !== undefined);
  return {
    n,
    edge: share(r.r1.map((x) => x >= t1)),
    edgeEncoder: share(r.r12.map((x) => x >= t1)),
    edgeCondition: flagRate(x1, bands.edgeCondition, t1),
    all: flagRate(x12, bands.all, t1),
    inBand: { edgeCondition: share(r.r1.map((x) => x >= bands.edgeCondition.lo && x < bands.edgeCondition.hi)), all: share(r.r12.map((x) => x >= bands.all.lo && x < bands.all.hi)) },
    conditionAlone: withValue.length ? withValue.filter(Boolean).length / withValue.length : null,
    noValue: n - withValue.length,
    noValueInBand: x1.filter((x) => x.holds === undefined && x.risk >= bands.edgeCondition.lo && x.risk < bands.edgeCondition.hi).length,
  };
}

interface RenderInput {
  latency: { n: number; meanTokens: number; p50: number; p99: number };
  t1: number;
  probeBand: Band;
  valGroups: Group[];
  valRisks: Map<string, Risks>;
  fitEdge: BandChoice;
  fitAll: BandChoice;
  bands: { edgeCondition: Band; all: Band };
  heldGroups: Group[];
  held: Map<string, Risks>;
  dropped: Record<string, number>;
  kept: number;
  valN: number;
  seconds: number;
  argv: string[];
}

const HELD_ROWS: { group: string; what: string; goal?: (x: number) => string | undefined; harmful: boolean }[] = [
  { group: "direct", what: "recall direct harmful", harmful: true, goal: (x) => (x >= GATE_GOALS.recallDirect ? "✓" : "✗") },
  { group: "wrapped", what: "recall jailbreak-wrapped (new templates)", harmful: true, goal: (x) => (x >= GATE_GOALS.recallWrapped ? "✓" : "✗") },
  { group: "attacks", what: "recall JailbreakBench attack artifacts", harmful: true },
  { group: "multi", what: "recall multi-turn harmful (CoSafe)", harmful: true },
  { group: "benign", what: "FPR benign instructions", harmful: false, goal: (x) => (x <= GATE_GOALS.fprBenign ? "✓" : "✗") },
  { group: "xstest", what: "FPR XSTest safe", harmful: false, goal: (x) => (x <= GATE_GOALS.fprXstest ? "✓" : "✗") },
  { group: "jbbBenign", what: "FPR JailbreakBench benign", harmful: false },
  { group: "gsm8k", what: "FPR GSM8K test questions", harmful: false },
  { group: "capability", what: "FPR MMLU + ARC + TruthfulQA", harmful: false },
  { group: "wrappedBenign", what: "FPR new templates wrapping benign", harmful: false },
];

function renderMarkdown(r: RenderInput): string {
  const L: string[] = [];
  const p = (s = "") => L.push(s);
  const pc = (x: number) => f3(x);
  p("# Whole gate with the condition route (issue 16)");
  p();
  p("```sh");
  p(`npm run eval:condition${r.argv.length ? ` -- ${r.argv.join(" ")}` : ""}`);
  p("```");
  p();
  p(`First-stage threshold ${f3(r.t1)}; encoder stage band [${f3(r.probeBand.lo)}, ${f3(r.probeBand.hi)}) of first-stage risk. Time ${r.seconds.toFixed(0)} s.`);
  p();
  p("## Bands (training side)");
  p();
  p(`${r.kept} of the first stage's ${r.valN} validation examples (training-side files; the rest were prompts the condition was fitted on or organism260K was fine-tuned on). Rule: of the bands on a fixed grid holding the first stage's threshold, the one maximising balanced Youden J (mean recall over harmful groups minus mean FPR over benign groups) with ordinary-benign FPR <= max(${DEFAULT_FIT.targetFpr}, the first stage's); ties to the narrower band.`);
  p();
  p(`- edge+condition (first-stage risk): fitted ${bandText(r.fitEdge.band)}, J ${f3(r.fitEdge.j)} vs ${f3(r.fitEdge.baseline.j)} for the first stage alone; ${(r.fitEdge.inBand * 100).toFixed(1)}% of the examples in the band. Used: ${bandText(r.bands.edgeCondition)}.`);
  p(`- all (risk after the encoder stage): fitted ${bandText(r.fitAll.band)}, J ${f3(r.fitAll.j)}; ${(r.fitAll.inBand * 100).toFixed(1)}% in the band. Used: ${bandText(r.bands.all)}.`);
  p();
  p("| training-side group | n | edge | edge+encoder | edge+condition | all | condition alone | no condition value (over context) |");
  p("| --- | --- | --- | --- | --- | --- | --- | --- |");
  for (const g of r.valGroups) {
    const x = gateRates(r.valRisks.get(g.name)!, r.t1, r.bands);
    p(`| ${g.name} (${g.label ? "recall" : "FPR"}) | ${x.n} | ${pc(x.edge)} | ${pc(x.edgeEncoder)} | ${pc(x.edgeCondition)} | ${pc(x.all)} | ${x.conditionAlone === null ? "–" : pc(x.conditionAlone)} | ${x.noValue} |`);
  }
  p();
  p("## Held-out sets (eval:classifier's)");
  p();
  p(`Dropped as seen in training: ${JSON.stringify(r.dropped)}. Each cell: share of the set the gate steers (recall for harmful sets, FPR for benign ones); ✓/✗ against issue 16's goal for the whole gate. In band: share of the set routed to the condition (a conditional request).`);
  p();
  p("| set | n | goal | edge | edge+encoder | edge+condition | all | in band: edge+condition / all | condition alone | no condition value |");
  p("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
  const goalText: Record<string, string> = { direct: `>= ${GATE_GOALS.recallDirect}`, wrapped: `>= ${GATE_GOALS.recallWrapped}`, benign: `<= ${GATE_GOALS.fprBenign}`, xstest: `<= ${GATE_GOALS.fprXstest}` };
  for (const row of HELD_ROWS) {
    const x = gateRates(r.held.get(row.group)!, r.t1, r.bands);
    const c = (v: number) => `${pc(v)}${row.goal ? ` ${row.goal(v)}` : ""}`;
    p(`| ${row.what} | ${x.n} | ${goalText[row.group] ?? ""} | ${c(x.edge)} | ${c(x.edgeEncoder)} | ${c(x.edgeCondition)} | ${c(x.all)} | ${pc(x.inBand.edgeCondition)} / ${pc(x.inBand.all)} | ${x.conditionAlone === null ? "–" : pc(x.conditionAlone)} | ${x.noValue} |`);
  }
  const gr = gateRates(r.held.get("greetings")!, r.t1, r.bands);
  const count = (rate: number) => Math.round(rate * gr.n);
  p(`| greetings steered (conversational-cases, count) | ${gr.n} | ${GATE_GOALS.greetings} | ${count(gr.edge)} | ${count(gr.edgeEncoder)} | ${count(gr.edgeCondition)} | ${count(gr.all)} | ${pc(gr.inBand.edgeCondition)} / ${pc(gr.inBand.all)} | ${gr.conditionAlone === null ? "–" : pc(gr.conditionAlone)} | ${gr.noValue} |`);
  const g = r.held.get("greetings")!;
  const greet = (flag: (i: number) => boolean) => JSON.stringify(CONVERSATIONAL_CASES.filter((_, i) => flag(i)));
  p();
  p(`Greetings steered: edge ${greet((i) => g.r1[i]! >= r.t1)}; edge+encoder ${greet((i) => g.r12[i]! >= r.t1)}; edge+condition ${greet((i) => gateFlag({ risk: g.r1[i]!, holds: g.holds[i] }, r.bands.edgeCondition, r.t1))}; all ${greet((i) => gateFlag({ risk: g.r12[i]!, holds: g.holds[i] }, r.bands.all, r.t1))}.`);
  const ben = ["benign", "xstest", "jbbBenign", "gsm8k", "capability"];
  const scores = (names: string[], k: "r1" | "r12") => names.flatMap((n) => r.held.get(n)![k]);
  p();
  p(`The condition as a forward pass of its own (in-process, one onnxruntime thread, one prompt per call, ${r.latency.n} held-out prompts of ${r.latency.meanTokens.toFixed(0)} tokens on average): p50 ${r.latency.p50.toFixed(2)} ms, p99 ${r.latency.p99.toFixed(2)} ms. In the sidecar the value comes out of the request's own prefill, at no added pass.`);
  p();
  p(`AUROC direct harmful vs benign (the risk scores; the condition routes are decisions, not scores): first stage ${f3(auroc(scores(["direct"], "r1"), scores(ben, "r1")))}, after the encoder stage ${f3(auroc(scores(["direct"], "r12"), scores(ben, "r12")))} (goal >= ${GATE_GOALS.auroc}).`);
  p();
  return `${L.join("\n")}\n`;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`${e instanceof UsageError ? e.message : e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = e instanceof UsageError ? 2 : 1;
  },
);
