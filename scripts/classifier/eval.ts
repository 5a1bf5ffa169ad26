/**
 * npm run eval:classifier -- [--data DIR] [--artifact FILE] [--json FILE]
 *
 * Scores the held-out sets with the shipped artifact at its shipped threshold and
 * prints AUROC, recalls, false-positive rates, latency and load time.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { RiskModel, type ChatMessage } from "../../edge/classifier/model.ts";
import { ADVERSARIAL_CASES } from "../../edge/classifier/adversarial-cases.ts";
import { CONVERSATIONAL_CASES } from "../../edge/classifier/conversational-cases.ts";
import { Progress } from "../lib/progress.ts";
import type { TextItem } from "./data.ts";
import { BENIGN_DIALOGUE_TURNS, heldOutGroups, LONG_BENIGN_DIALOGUE_TURNS } from "./held-out-groups.ts";
import { auroc, quantile, rateAtOrAbove } from "./metrics.ts";
import { DEFAULT_ARTIFACT, DEFAULT_DATA_DIR, REPO_ROOT } from "./paths.ts";
import { DEFAULT_PROBE_ARTIFACT } from "./encoder-probe.ts";
import { assistantTurnRates, encoderLatency, GATE_GOALS, gateLatency, greetingsSteered, obfuscationRates, scoreGate, systemPromptErrors, type Group } from "./eval-gate.ts";
import { loadAssistantAnswers } from "./data.ts";
import { mulberry32, shuffle } from "./train-lib.ts";
import { SYSTEM_PROMPT_CASES, SYSTEM_PROMPT_HARMFUL_CASES } from "../../edge/classifier/system-prompt-cases.ts";
import { DEFAULT_ENCODER_THREADS, OnnxSentenceEncoder } from "../../edge/encoder/onnx.ts";
import { loadRiskScorer } from "../../edge/risk/index.ts";

/** Held-out prompts of each kind scored under every obfuscation. */
const OBFUSCATION_SAMPLE = 500;

const HELP = `Usage: npm run eval:classifier -- [options]

Evaluates the prompt-risk classifier on the held-out sets of ../shared/data (never
used for training or for choosing the threshold) at the artifact's shipped threshold.

Options:
  --data DIR        data folder (default: <repo>/../shared/data)
  --artifact FILE   artifact (default: edge/classifier/risk-model.v2.json)
  --seed N          seed for pairing new jailbreak templates with requests (default 7)
  --probe FILE      second-stage artifact (default: edge/classifier/encoder-probe.v1.json)
  --first-stage-only  skip the second stage (the whole gate's rows)
  --latency-sample N  held-out prompts timed through the gate as the edge runs it (default 2000)
  --json FILE       also write all metrics as JSON
  --by-source       print recall / FPR per source file
  -h, --help        this help
`;

function timeIt(fn: () => void, runs: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    fn();
    out.push(performance.now() - t);
  }
  return out;
}

/** A realistic prompt of exactly `n` characters built from benign held-out text. */
function promptOfLength(texts: string[], n: number): string {
  let s = "";
  for (let i = 0; s.length < n; i++) s += texts[i % texts.length] + (i % 3 === 2 ? "\n" : " ");
  return s.slice(0, n);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      data: { type: "string", default: DEFAULT_DATA_DIR },
      artifact: { type: "string", default: DEFAULT_ARTIFACT },
      seed: { type: "string", default: "7" },
      json: { type: "string" },
      probe: { type: "string", default: DEFAULT_PROBE_ARTIFACT },
      "first-stage-only": { type: "boolean", default: false },
      "latency-sample": { type: "string", default: "2000" },
      "by-source": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const latencySample = Number(values["latency-sample"]);
  if (!Number.isInteger(latencySample) || latencySample < 1) throw new Error(`--latency-sample must be a whole number >= 1, got ${JSON.stringify(values["latency-sample"])}`);
  const dataDir = resolve(REPO_ROOT, values.data!);
  const artifactPath = resolve(REPO_ROOT, values.artifact!);

  // Load time: read + parse + build (median of 5 runs; the first run is reported too).
  const loads: number[] = [];
  let model!: RiskModel;
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    model = RiskModel.fromArtifact(readFileSync(artifactPath, "utf8"));
    loads.push(performance.now() - t);
  }
  const thr = model.threshold;

  const {
    directHarmful, otherHarmful, benignInstructions, xstestSafe, jbbBenign, gsm8k, capability, wrappedHarmful, wrappedBenign, jbbAttacks, multiTurn, benignDialogues, longBenignDialogues, dropped,
  } = heldOutGroups(dataDir, Number(values.seed) | 0);
  const h = { jbbAttacks, multiTurn, benignDialogues, longBenignDialogues };

  const total =
    directHarmful.length + otherHarmful.length + benignInstructions.length + xstestSafe.length + jbbBenign.length + gsm8k.length +
    capability.length + wrappedHarmful.length + wrappedBenign.length + h.jbbAttacks.length + h.multiTurn.length + h.benignDialogues.length + h.longBenignDialogues.length;
  const bar = new Progress({ total, label: "score" });
  const score = (xs: TextItem[]) => {
    const s = xs.map((x) => model.scoreText(x.text));
    bar.tick(xs.length);
    return s;
  };
  const S = {
    direct: score(directHarmful),
    other: score(otherHarmful),
    benign: score(benignInstructions),
    xstest: score(xstestSafe),
    jbbBenign: score(jbbBenign),
    gsm8k: score(gsm8k),
    capability: score(capability),
    wrapped: score(wrappedHarmful),
    wrappedBenign: score(wrappedBenign),
    attacks: score(h.jbbAttacks),
    multi: h.multiTurn.map((d) => model.scoreConversation(d.messages as ChatMessage[]).risk),
    benignDialogues: h.benignDialogues.map((d) => model.scoreConversation(d.messages as ChatMessage[]).risk),
    longBenignDialogues: h.longBenignDialogues.map((d) => model.scoreConversation(d.messages as ChatMessage[]).risk),
  };
  bar.tick(h.multiTurn.length + h.benignDialogues.length + h.longBenignDialogues.length);
  bar.finish();

  const allBenign = [...S.benign, ...S.xstest, ...S.jbbBenign, ...S.gsm8k, ...S.capability];
  // Mean CPU time per call over a batch of 2,000: less sensitive than wall time to other
  // processes on a shared machine (wall-clock percentiles include preemption).
  const cpuMean = (f: () => unknown) => {
    const c0 = process.cpuUsage();
    for (let i = 0; i < 2000; i++) f();
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / 1000 / 2000;
  };
  const latency = (n: number) => {
    const p = promptOfLength(benignInstructions.map((x) => x.text), n);
    timeIt(() => model.scoreText(p), 300); // warm-up
    const t = timeIt(() => model.scoreText(p), 3000);
    return { p50: quantile(t, 0.5), p99: quantile(t, 0.99), cpuMean: cpuMean(() => model.scoreText(p)) };
  };
  const l200 = latency(200);
  const l4000 = latency(4000);
  // What the decoded readings (edge/classifier/readings.ts) cost an ordinary prompt: mean CPU per call, side by side.
  const plain = RiskModel.fromArtifact(readFileSync(artifactPath, "utf8"), { readings: false });
  const readingsCost = (() => {
    const p = promptOfLength(benignInstructions.map((x) => x.text), 4000);
    const cpu = (m: RiskModel) => {
      timeIt(() => m.scoreText(p), 300); // warm-up
      return cpuMean(() => m.scoreText(p));
    };
    const without = cpu(plain);
    const withReadings = cpu(model);
    return { without, with: withReadings };
  })();
  // Adversarial inputs (edge/classifier/adversarial-cases.ts): worst of 20 timed runs each, after 3 warm-up runs.
  const adversarial = ADVERSARIAL_CASES.map(([name, text]) => {
    timeIt(() => model.scoreText(text), 3);
    return { name, worstMs: Math.max(...timeIt(() => model.scoreText(text), 20)) };
  });
  const worstAdversarial = adversarial.reduce((a, b) => (b.worstMs > a.worstMs ? b : a));
  const pct = (x: number) => x.toFixed(4);
  const m = {
    artifact: artifactPath,
    modelVersion: model.version,
    threshold: thr,
    auroc_direct_vs_benign: auroc(S.direct, allBenign),
    auroc_all_harmful_vs_benign: auroc([...S.direct, ...S.wrapped, ...S.attacks, ...S.multi], allBenign),
    recall_direct_harmful: rateAtOrAbove(S.direct, thr),
    recall_jailbreak_wrapped_new_templates: rateAtOrAbove(S.wrapped, thr),
    recall_jbb_attack_artifacts: rateAtOrAbove(S.attacks, thr),
    recall_multi_turn_cosafe: rateAtOrAbove(S.multi, thr),
    fpr_benign_instructions: rateAtOrAbove(S.benign, thr),
    fpr_xstest_safe: rateAtOrAbove(S.xstest, thr),
    fpr_jbb_benign: rateAtOrAbove(S.jbbBenign, thr),
    fpr_gsm8k_test: rateAtOrAbove(S.gsm8k, thr),
    fpr_mmlu_arc_truthfulqa: rateAtOrAbove(S.capability, thr),
    fpr_new_templates_wrapping_benign: rateAtOrAbove(S.wrappedBenign, thr),
    fpr_benign_conversations: rateAtOrAbove(S.benignDialogues, thr),
    fpr_long_benign_conversations: rateAtOrAbove(S.longBenignDialogues, thr),
    latency_ms_200_chars: l200,
    latency_ms_4000_chars: l4000,
    readings_cpu_ms_4000_chars: readingsCost,
    adversarial_worst_ms: Object.fromEntries(adversarial.map((a) => [a.name, a.worstMs])),
    load_ms: { first: loads[0], median: quantile(loads, 0.5) },
    n: {
      direct: S.direct.length,
      wrapped: S.wrapped.length,
      attacks: S.attacks.length,
      multi: S.multi.length,
      benign: S.benign.length,
      xstest: S.xstest.length,
      jbbBenign: S.jbbBenign.length,
      gsm8k: S.gsm8k.length,
      capability: S.capability.length,
      benignDialogues: S.benignDialogues.length,
      longBenignDialogues: S.longBenignDialogues.length,
    },
    droppedAsSeenInTraining: dropped,
  };
  const goal = (ok: boolean) => (ok ? "met" : "MISSED");
  const lines = [
    `prompt-risk classifier ${m.modelVersion}  threshold ${m.threshold.toFixed(4)} (chosen on training-side validation)`,
    `held-out sets; dropped as seen in training: ${JSON.stringify(dropped)}`,
    ``,
    `AUROC direct harmful vs benign          ${pct(m.auroc_direct_vs_benign)}   goal >= ${GATE_GOALS.auroc}  ${goal(m.auroc_direct_vs_benign >= GATE_GOALS.auroc)}   (${m.n.direct} vs ${allBenign.length})`,
    `AUROC all harmful (incl. jailbreak, multi-turn) vs benign  ${pct(m.auroc_all_harmful_vs_benign)}`,
    `recall direct harmful                   ${pct(m.recall_direct_harmful)}   goal >= ${GATE_GOALS.recallDirect}  ${goal(m.recall_direct_harmful >= GATE_GOALS.recallDirect)}   (n=${m.n.direct})`,
    `recall jailbreak-wrapped (new templates) ${pct(m.recall_jailbreak_wrapped_new_templates)}   goal >= ${GATE_GOALS.recallWrapped}  ${goal(m.recall_jailbreak_wrapped_new_templates >= GATE_GOALS.recallWrapped)}   (n=${m.n.wrapped})`,
    `recall JailbreakBench attack artifacts  ${pct(m.recall_jbb_attack_artifacts)}   (n=${m.n.attacks})`,
    `recall multi-turn harmful (CoSafe)      ${pct(m.recall_multi_turn_cosafe)}   (n=${m.n.multi})`,
    `FPR benign instructions                 ${pct(m.fpr_benign_instructions)}   goal <= ${GATE_GOALS.fprBenign}  ${goal(m.fpr_benign_instructions <= GATE_GOALS.fprBenign)}   (n=${m.n.benign})`,
    `FPR XSTest safe                         ${pct(m.fpr_xstest_safe)}   goal <= ${GATE_GOALS.fprXstest}  ${goal(m.fpr_xstest_safe <= GATE_GOALS.fprXstest)}   (n=${m.n.xstest})`,
    `FPR JailbreakBench benign               ${pct(m.fpr_jbb_benign)}   (n=${m.n.jbbBenign})`,
    `FPR GSM8K test questions                ${pct(m.fpr_gsm8k_test)}   (n=${m.n.gsm8k})`,
    `FPR MMLU + ARC + TruthfulQA questions   ${pct(m.fpr_mmlu_arc_truthfulqa)}   (n=${m.n.capability})`,
    `FPR new templates wrapping benign       ${pct(m.fpr_new_templates_wrapping_benign)}   (n=${wrappedBenign.length}; no goal)`,
    `FPR benign ${BENIGN_DIALOGUE_TURNS}-turn conversations (held-out turns) ${pct(m.fpr_benign_conversations)}   (n=${m.n.benignDialogues}; no goal: a risky turn anywhere steers the conversation)`,
    `FPR benign ${LONG_BENIGN_DIALOGUE_TURNS}-turn conversations (held-out turns) ${pct(m.fpr_long_benign_conversations)}   (n=${m.n.longBenignDialogues})`,
    `latency 200 chars    p50 ${l200.p50.toFixed(4)} ms  p99 ${l200.p99.toFixed(4)} ms  (mean CPU ${l200.cpuMean.toFixed(4)} ms)`,
    `latency 4000 chars   p50 ${l4000.p50.toFixed(4)} ms  p99 ${l4000.p99.toFixed(4)} ms  (mean CPU ${l4000.cpuMean.toFixed(4)} ms)   goal p99 < 1 ms  ${goal(l4000.p99 < 1)}`,
    `  decoded readings' share of it: mean CPU ${readingsCost.with.toFixed(4)} ms with, ${readingsCost.without.toFixed(4)} ms without (x${(readingsCost.with / readingsCost.without).toFixed(2)}, side by side)`,
    `adversarial inputs   worst ${worstAdversarial.worstMs.toFixed(2)} ms (${worstAdversarial.name}; ${adversarial.length} inputs, 20 runs each)   goal <= 10 ms  ${goal(worstAdversarial.worstMs <= 10)}`,
    `machine load average (1 min) ${loadavg()[0].toFixed(2)} on ${availableParallelism()} CPUs: wall-clock percentiles include time other processes took`,
    `artifact load (read+parse+build)  first ${loads[0].toFixed(1)} ms, median of 5 ${quantile(loads, 0.5).toFixed(1)} ms   goal < 200 ms  ${goal(loads[0] < 200)}`,
  ];
  if (!values["first-stage-only"]) {
    const gate = await evalWholeGate(model, artifactPath, resolve(REPO_ROOT, values.probe!), {
      direct: directHarmful.map((x) => x.text),
      wrapped: wrappedHarmful.map((x) => x.text),
      attacks: h.jbbAttacks.map((x) => x.text),
      multi: h.multiTurn.map((d) => d.messages as ChatMessage[]),
      benign: benignInstructions.map((x) => x.text),
      xstest: xstestSafe.map((x) => x.text),
      jbbBenign: jbbBenign.map((x) => x.text),
      gsm8k: gsm8k.map((x) => x.text),
      capability: capability.map((x) => x.text),
      wrappedBenign: wrappedBenign.map((x) => x.text),
      benignDialogues: h.benignDialogues.map((d) => d.messages as ChatMessage[]),
      longBenignDialogues: h.longBenignDialogues.map((d) => d.messages as ChatMessage[]),
    }, S, { sample: latencySample, seed: Number(values.seed) | 0, dataDir, plain, long: promptOfLength(benignInstructions.map((x) => x.text), 4000) });
    lines.push("", ...gate.lines);
    Object.assign(m, { gate: gate.metrics });
  }
  if (values["by-source"]) {
    lines.push("", "by source (fraction flagged at the threshold):");
    const groups: [TextItem[], number[]][] = [
      [directHarmful, S.direct],
      [otherHarmful, S.other],
      [benignInstructions, S.benign],
      [xstestSafe, S.xstest],
      [jbbBenign, S.jbbBenign],
      [gsm8k, S.gsm8k],
      [capability, S.capability],
      [h.jbbAttacks, S.attacks],
    ];
    const by = new Map<string, number[]>();
    for (const [xs, ss] of groups) xs.forEach((x, i) => by.set(x.source, [...(by.get(x.source) ?? []), ss[i]]));
    h.multiTurn.forEach((d, i) => by.set(d.source, [...(by.get(d.source) ?? []), S.multi[i]]));
    for (const [src, ss] of by) lines.push(`  ${src.padEnd(48)} ${pct(rateAtOrAbove(ss, thr))}  (n=${ss.length})`);
  }
  process.stdout.write(lines.join("\n") + "\n");
  if (values.json) writeFileSync(resolve(REPO_ROOT, values.json), JSON.stringify(m, null, 2) + "\n");
}

type GroupName = "direct" | "wrapped" | "attacks" | "multi" | "benign" | "xstest" | "jbbBenign" | "gsm8k" | "capability" | "wrappedBenign" | "benignDialogues" | "longBenignDialogues";

/** The whole gate (first stage alone vs with the encoder probe) at the shipped thresholds; see eval-gate.ts. */
async function evalWholeGate(
  model: RiskModel,
  artifactPath: string,
  probePath: string,
  texts: Record<GroupName, (string | ChatMessage[])[]>,
  first: Record<GroupName, number[]>,
  o: { sample: number; seed: number; long: string; dataDir: string; plain: RiskModel },
) {
  const harmful = new Set<GroupName>(["direct", "wrapped", "attacks", "multi"]);
  const groups: Group[] = Object.entries(texts).map(([name, t]) => ({ name, label: harmful.has(name as GroupName) ? 1 : 0, texts: t }));
  const run = await scoreGate(model, probePath, groups);
  const G = Object.fromEntries(run.risks) as Record<GroupName, number[]>;
  const thr = model.threshold;
  const benignOf = (S: Record<GroupName, number[]>) => [...S.benign, ...S.xstest, ...S.jbbBenign, ...S.gsm8k, ...S.capability];
  const rows = (S: Record<GroupName, number[]>, greetings: number) => ({
    auroc: auroc(S.direct, benignOf(S)),
    recallDirect: rateAtOrAbove(S.direct, thr),
    recallWrapped: rateAtOrAbove(S.wrapped, thr),
    recallAttacks: rateAtOrAbove(S.attacks, thr),
    recallMulti: rateAtOrAbove(S.multi, thr),
    fprBenign: rateAtOrAbove(S.benign, thr),
    fprXstest: rateAtOrAbove(S.xstest, thr),
    fprJbbBenign: rateAtOrAbove(S.jbbBenign, thr),
    fprGsm8k: rateAtOrAbove(S.gsm8k, thr),
    fprCapability: rateAtOrAbove(S.capability, thr),
    fprWrappedBenign: rateAtOrAbove(S.wrappedBenign, thr),
    fprConversations: rateAtOrAbove(S.benignDialogues, thr),
    fprLongConversations: rateAtOrAbove(S.longBenignDialogues, thr),
    greetings,
  });
  const warn = (msg: string) => process.stderr.write(`${msg}\n`);
  const firstScorer = await loadRiskScorer({ artifact: artifactPath, warn });
  const gateScorer = await loadRiskScorer({ artifact: artifactPath, secondStage: { probe: probePath }, warn });
  const greetingsGate = await greetingsSteered(gateScorer);
  const pick = (xs: readonly (string | ChatMessage[])[]) => shuffle(xs.filter((t): t is string => typeof t === "string"), mulberry32(o.seed)).slice(0, OBFUSCATION_SAMPLE);
  const obfuscated = await obfuscationRates(model, o.plain, probePath, pick(texts.direct), pick(texts.benign));
  const answers = loadAssistantAnswers(o.dataDir);
  const assistant = {
    jailbroken: await assistantTurnRates(gateScorer, answers.jailbroken),
    refused: await assistantTurnRates(gateScorer, answers.refused),
    benign: await assistantTurnRates(gateScorer, answers.benign),
  };
  const system = { first: await systemPromptErrors(firstScorer, SYSTEM_PROMPT_CASES, SYSTEM_PROMPT_HARMFUL_CASES), gate: await systemPromptErrors(gateScorer, SYSTEM_PROMPT_CASES, SYSTEM_PROMPT_HARMFUL_CASES) };
  const one = rows(first, (await greetingsSteered(firstScorer)).length);
  const two = rows(G, greetingsGate.length);
  const singles = [...texts.direct, ...texts.benign, ...texts.xstest, ...texts.jbbBenign, ...texts.gsm8k, ...texts.capability, ...texts.wrapped, ...texts.attacks].filter((t): t is string => typeof t === "string");
  const dialogues = [...texts.multi, ...texts.longBenignDialogues].filter((t): t is ChatMessage[] => typeof t !== "string");
  const latency = await gateLatency(artifactPath, probePath, singles, o.sample, o.seed, dialogues);
  const encoder = await OnnxSentenceEncoder.load();
  const enc = { short: await encoderLatency(encoder, "How do I kill a Python process?"), long4000: await encoderLatency(encoder, o.long) };
  const f = (x: number) => x.toFixed(4);
  const g = GATE_GOALS;
  const met = (ok: boolean) => (ok ? "met" : "MISSED");
  const row = (name: string, k: keyof typeof one, goal = "", ok?: boolean) =>
    `${name.padEnd(40)} ${(k === "greetings" ? String(one[k]) : f(one[k])).padStart(8)}  ${(k === "greetings" ? String(two[k]) : f(two[k])).padStart(8)}   ${goal}${ok === undefined ? "" : `  ${met(ok)}`}`;
  const lines = [
    `whole gate at the shipped thresholds: stage 1 alone vs stages 1+2 (encoder probe ${run.stage2.artifact.version}, band [${f(run.stage2.band.lo)}, ${f(run.stage2.band.hi)}) of stage-1 risk)`,
    `${"".padEnd(40)} ${"stage 1".padStart(8)}  ${"1+2".padStart(8)}   goal (issue 16, for 1+2)`,
    row("AUROC direct harmful vs benign", "auroc", `>= ${g.auroc}`, two.auroc >= g.auroc),
    row("recall direct harmful", "recallDirect", `>= ${g.recallDirect}`, two.recallDirect >= g.recallDirect),
    row("recall jailbreak-wrapped (new templates)", "recallWrapped", `>= ${g.recallWrapped}`, two.recallWrapped >= g.recallWrapped),
    row("recall JailbreakBench attack artifacts", "recallAttacks"),
    row("recall multi-turn harmful (CoSafe)", "recallMulti"),
    row("FPR benign instructions", "fprBenign", `<= ${g.fprBenign}`, two.fprBenign <= g.fprBenign),
    row("FPR XSTest safe", "fprXstest", `<= ${g.fprXstest}`, two.fprXstest <= g.fprXstest),
    row("FPR JailbreakBench benign", "fprJbbBenign"),
    row("FPR GSM8K test questions", "fprGsm8k"),
    row("FPR MMLU + ARC + TruthfulQA", "fprCapability"),
    row("FPR new templates wrapping benign", "fprWrappedBenign"),
    row(`FPR benign ${BENIGN_DIALOGUE_TURNS}-turn conversations`, "fprConversations"),
    row(`FPR benign ${LONG_BENIGN_DIALOGUE_TURNS}-turn conversations`, "fprLongConversations"),
    row("greetings steered (conversational-cases)", "greetings", `${g.greetings} of ${CONVERSATIONAL_CASES.length}`, two.greetings <= g.greetings),
    `${"system prompts steered (user: \"hi\")".padEnd(40)} ${f(system.first.fpr).padStart(8)}  ${f(system.gate.fpr).padStart(8)}   no goal: ${SYSTEM_PROMPT_CASES.length} benign operator prompts (system-prompt-cases.ts); 0 with classifier.trusted_system_prompts`,
    `${"harmful system prompts caught".padEnd(40)} ${f(system.first.recall).padStart(8)}  ${f(system.gate.recall).padStart(8)}   (n=${SYSTEM_PROMPT_HARMFUL_CASES.length})`,
    `share of held-out prompts and dialogues reaching stage 2: ${f(run.stage2Share)}`,
    `assistant turns (data.ts loadAssistantAnswers), sent as a fabricated answer before "continue": share the gate steers, assistant turns unscored (default) / scored as client text (assistant_turns "unserved", a turn the edge did not serve):`,
    ...(["jailbroken", "refused", "benign"] as const).map((k) => `  ${{ jailbroken: "JailbreakBench jailbroken responses", refused: "JailbreakBench other responses (refusals)", benign: "MT-Bench reference answers" }[k].padEnd(44)} ${f(assistant[k].unscored)}  ${f(assistant[k].unserved)}   (n=${assistant[k].n})`),
    `obfuscated and disguised prompts (obfuscation.ts; ${OBFUSCATION_SAMPLE} held-out direct harmful and ${OBFUSCATION_SAMPLE} benign instructions, seeded), share flagged:`,
    `  ${"".padEnd(20)} ${"harmful: stage 1 without readings".padStart(34)} ${"stage 1".padStart(8)} ${"1+2".padStart(8)}   ${"benign: stage 1 without readings".padStart(33)} ${"stage 1".padStart(8)} ${"1+2".padStart(8)}`,
    ...obfuscated.map((r) => `  ${r.name.padEnd(20)} ${f(r.caught.noReadings).padStart(34)} ${f(r.caught.stage1).padStart(8)} ${f(r.caught.gate).padStart(8)}   ${f(r.benignFlagged.noReadings).padStart(33)} ${f(r.benignFlagged.stage1).padStart(8)} ${f(r.benignFlagged.gate).padStart(8)}`),
    `gate latency, assess() as the edge calls it, ${latency.n} held-out prompts (seeded sample):`,
    `  stage 1 alone   p50 ${latency.first.p50.toFixed(3)} ms  p99 ${latency.first.p99.toFixed(3)} ms  max ${latency.first.max.toFixed(1)} ms`,
    `  stages 1+2      p50 ${latency.gate.p50.toFixed(3)} ms  p99 ${latency.gate.p99.toFixed(3)} ms  max ${latency.gate.max.toFixed(1)} ms  (${(latency.gate.stage2Share * 100).toFixed(1)}% reached stage 2)   goal p50 < ${g.p50Ms} ms ${met(latency.gate.p50 < g.p50Ms)}, p99 < ${g.p99Ms} ms ${met(latency.gate.p99 < g.p99Ms)}`,
    ...(latency.conversations
      ? [
          `  stages 1+2, ${latency.conversations.n} held-out conversations (CoSafe and benign ${LONG_BENIGN_DIALOGUE_TURNS}-turn; seeded sample): p50 ${latency.conversations.p50.toFixed(3)} ms  p99 ${latency.conversations.p99.toFixed(3)} ms  max ${latency.conversations.max.toFixed(1)} ms  (${(latency.conversations.stage2Share * 100).toFixed(1)}% reached stage 2; each text in the band read; no goal)`,
        ]
      : []),
    `encoder alone (onnxruntime, ${DEFAULT_ENCODER_THREADS} threads, as the edge runs it)   short prompt p50 ${enc.short.p50.toFixed(2)} / p99 ${enc.short.p99.toFixed(2)} ms   4,000 chars p50 ${enc.long4000.p50.toFixed(2)} / p99 ${enc.long4000.p99.toFixed(2)} ms`,
    `second stage load (probe + encoder read, hashed, built)  ${latency.loadMs.toFixed(0)} ms`,
    `greetings the gate steers: ${JSON.stringify(greetingsGate)}`,
  ];
  const systemPrompts = { stage1: { fpr: system.first.fpr, recall: system.first.recall }, gate: { fpr: system.gate.fpr, recall: system.gate.recall }, gateMissed: system.gate.missed };
  return { lines, metrics: { band: run.stage2.band, stage1: one, gate: two, stage2Share: run.stage2Share, latency, encoder: enc, greetingsSteered: greetingsGate, systemPrompts, obfuscated, assistantTurns: assistant } };
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.stack ?? e.message : e);
  process.exit(1);
});
