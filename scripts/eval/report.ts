/** report.json and report.md: the paper-style table from the per-item results. */
import type { Metric, SuiteDef, SuiteGroup } from "./suites/types.ts";
import { DEFAULT_GATE, GATE_VARIANTS } from "./gates.ts";
import { goalRatios, renderGoal, type GoalRow } from "./goal.ts";
import { perplexity, perplexityVs, type Perplexity } from "./perplexity.ts";
import { configKey, type ArmConfig, type ItemResult } from "./runner.ts";
import { wilson } from "./wilson.ts";
import type { Condition } from "../find-features/condition.ts";
import { conditionFormula } from "../find-features/condition-report.ts";

export interface Rate {
  k: number;
  n: number;
  rate: number;
  lo: number;
  hi: number;
}

export function rateOf(k: number, n: number): Rate {
  const { lo, hi } = wilson(k, n);
  return { k, n, rate: n ? k / n : 0, lo, hi };
}

export interface SuiteSummary {
  name: string;
  group: SuiteGroup;
  metric: Metric;
  description: string;
  sources: string[];
  n: number;
  /** Prompts cut to fit the context (jailbreak / multi-turn). */
  truncated: number;
  /** Mean few-shot examples per item (MC suites). */
  meanShots?: number;
  /** Fraction of items the default gate routes to steering (the selective arm). */
  routed?: number;
}

export interface Latency {
  mean: number;
  p50: number;
  p95: number;
  n: number;
}

/** One gate variant: what it routes and the latency it adds per prompt. */
export interface GateSummary {
  name: string;
  stages: readonly string[];
  description: string;
  /** Condition variants: the band of the gate's risk in which the condition decides. */
  band?: { lo: number; hi: number };
  /** Routed to steering: every prompt; harmful / jailbreak / multi-turn / check prompts; over-refusal and capability prompts. */
  routed: { all: Rate; risky: Rate; benign: Rate };
  /** Share of prompts each stage decided (edge, encoder, condition), over every prompt; for the condition also over risky and benign prompts (the band's share). */
  decidedBy: Record<string, Rate>;
  inBand?: { risky: Rate; benign: Rate };
  /** Time the gate took per prompt (ms), over every prompt it decided. */
  latencyMs: Latency;
  /** The same, per deciding stage. */
  latencyByStage: Record<string, Latency>;
  /** What the latency measures, when not what production pays. */
  latencyNote?: string;
}

export interface Row {
  key: string;
  arm: ArmConfig["arm"];
  strength: number | null;
  /** Selective rows: the gate variant. */
  gate?: string;
  /** Refusal and accuracy suites. */
  suites: Record<string, Rate>;
  /** Perplexity suites (cost vs the never arm on the same texts). */
  perplexity: Record<string, Perplexity>;
  /** Refusal pooled over the jailbreak and multi-turn suites (the plot's y). */
  jailbreakRefusal?: Rate;
  /** Refusal pooled over the over-refusal suites (lower is better). */
  overRefusal?: Rate;
  /** The first perplexity suite's relative increase vs never (the plot's x when present). */
  perplexityCost?: number;
  /** Mean accuracy over the capability suites (the plot's x). */
  capability?: number;
  /** capability - the never arm's. */
  capabilityDelta?: number;
  /** Per capability suite: accuracy - the never arm's. */
  deltas: Record<string, number>;
  onFrontier?: boolean;
}

export interface Report {
  tool: "steerguard-eval";
  version: 1;
  command: string;
  seed: number;
  config: Record<string, unknown>;
  hashes: { config: string; model: string; profile: string; sae?: string; classifier: string };
  model: { dir: string; id: string; contextLength: number };
  profile: { file: string; name: string; layer: number; positions: string; features: unknown; condition?: unknown; description?: string };
  judge: string;
  suites: SuiteSummary[];
  rows: Row[];
  /** Gate variants of the selective arm. */
  gates: GateSummary[];
  /** The issue-16 goal: selective's share of always's gains, per gate and strength. */
  goal: GoalRow[];
  timings: Record<string, number>;
  notes: string[];
}

export const metricOf = (s: Pick<SuiteDef, "group" | "metric">): Metric => s.metric ?? (s.group === "capability" ? "accuracy" : "refusal");
const JAILBREAK_GROUPS = new Set<SuiteGroup>(["jailbreak", "multiturn"]);
const RISKY_GROUPS = new Set<SuiteGroup>(["harmful", "jailbreak", "multiturn", "check"]);

const asScores = (rs: readonly ItemResult[]) => rs.filter((r) => r.tokens !== undefined).map((r) => ({ id: r.id, logprob: r.logprob!, tokens: r.tokens! }));

export function summarise(
  suites: readonly SuiteDef[],
  configs: readonly ArmConfig[],
  results: Map<string, Map<string, ItemResult[]>>,
  seed = 0,
  bands: Readonly<Record<string, { lo: number; hi: number }>> = {},
): { summaries: SuiteSummary[]; rows: Row[]; gates: GateSummary[]; goal: GoalRow[] } {
  const summaries: SuiteSummary[] = suites.map((s) => {
    const any = [...(results.get(s.name)?.values() ?? [])][0] ?? [];
    const first = configs.find((c) => c.arm === "selective" && (c.gate ?? DEFAULT_GATE) === DEFAULT_GATE);
    const sel = first && results.get(s.name)?.get(configKey(first));
    const shots = any.filter((r) => r.shots !== undefined).map((r) => r.shots!);
    return {
      name: s.name,
      group: s.group,
      metric: metricOf(s),
      description: s.description,
      sources: s.sources,
      n: any.length,
      truncated: any.filter((r) => r.truncated).length,
      ...(shots.length ? { meanShots: Number((shots.reduce((a, b) => a + b, 0) / shots.length).toFixed(2)) } : {}),
      ...(sel && sel.length ? { routed: Number((sel.filter((r) => r.steered).length / sel.length).toFixed(4)) } : {}),
    };
  });
  const rows: Row[] = configs.map((c) => {
    const key = configKey(c);
    const row: Row = { key, arm: c.arm, strength: c.strength, ...(c.arm === "selective" ? { gate: c.gate ?? DEFAULT_GATE } : {}), suites: {}, perplexity: {}, deltas: {} };
    let [jk, jn, ok, on] = [0, 0, 0, 0];
    const caps: number[] = [];
    for (const s of suites) {
      const rs = results.get(s.name)?.get(key) ?? [];
      const metric = metricOf(s);
      if (metric === "perplexity") {
        row.perplexity[s.name] = perplexityVs(asScores(rs), asScores(results.get(s.name)?.get("never") ?? []), seed);
        continue;
      }
      const k = metric === "refusal" ? rs.filter((r) => r.refused).length : rs.filter((r) => r.correct).length;
      const rate = rateOf(k, rs.length);
      row.suites[s.name] = rate;
      if (JAILBREAK_GROUPS.has(s.group)) ((jk += k), (jn += rs.length));
      if (s.group === "overrefusal") ((ok += k), (on += rs.length));
      if (metric === "accuracy" && rs.length) caps.push(rate.rate);
    }
    if (jn) row.jailbreakRefusal = rateOf(jk, jn);
    if (on) row.overRefusal = rateOf(ok, on);
    const firstPpl = Object.values(row.perplexity)[0];
    if (firstPpl?.cost !== undefined) row.perplexityCost = firstPpl.cost;
    if (caps.length) row.capability = caps.reduce((a, b) => a + b, 0) / caps.length;
    return row;
  });
  const never = rows.find((r) => r.arm === "never");
  for (const r of rows) {
    if (never && r.capability !== undefined && never.capability !== undefined) r.capabilityDelta = r.capability - never.capability;
    for (const s of suites) if (metricOf(s) === "accuracy" && never?.suites[s.name]?.n) r.deltas[s.name] = r.suites[s.name]!.rate - never.suites[s.name]!.rate;
  }
  // Pareto frontier: no other row is at least as good on both axes and better on one.
  const axis = tradeoffAxis(rows);
  const pts = rows.filter((r) => axis.value(r) !== undefined && r.jailbreakRefusal);
  const good = (r: Row) => (axis.lowerIsBetter ? -axis.value(r)! : axis.value(r)!);
  for (const r of pts) {
    r.onFrontier = !pts.some((o) => o !== r && good(o) >= good(r) && o.jailbreakRefusal!.rate >= r.jailbreakRefusal!.rate && (good(o) > good(r) || o.jailbreakRefusal!.rate > r.jailbreakRefusal!.rate));
  }
  return { summaries, rows, gates: gateSummaries(suites, configs, results, bands), goal: goalRatios(rows) };
}

/** The trade-off plot's x: story-perplexity cost when a perplexity suite ran, else mean capability accuracy. */
export interface TradeoffAxis {
  label: string;
  lowerIsBetter: boolean;
  value(r: Row): number | undefined;
}

export function tradeoffAxis(rows: readonly Row[]): TradeoffAxis {
  if (rows.some((r) => r.perplexityCost !== undefined))
    return { label: "capability cost: story perplexity increase vs never", lowerIsBetter: true, value: (r) => r.perplexityCost };
  return { label: "capability: mean accuracy over the capability suites", lowerIsBetter: false, value: (r) => r.capability };
}

const quantile = (sorted: readonly number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;

function latencyOf(xs: number[]): Latency {
  const ms = [...xs].sort((a, b) => a - b);
  return { mean: ms.length ? ms.reduce((a, b) => a + b, 0) / ms.length : 0, p50: quantile(ms, 0.5), p95: quantile(ms, 0.95), n: ms.length };
}

/** Per gate variant: routed fractions and deciding stages (from its first strength's rows; routing does not depend on strength) and decision latency. */
export function gateSummaries(
  suites: readonly SuiteDef[],
  configs: readonly ArmConfig[],
  results: Map<string, Map<string, ItemResult[]>>,
  bands: Readonly<Record<string, { lo: number; hi: number }>> = {},
): GateSummary[] {
  const out: GateSummary[] = [];
  for (const name of [...new Set(configs.filter((c) => c.arm === "selective").map((c) => c.gate ?? DEFAULT_GATE))]) {
    const key = configKey(configs.find((c) => c.arm === "selective" && (c.gate ?? DEFAULT_GATE) === name)!);
    const count = { all: [0, 0], risky: [0, 0], benign: [0, 0] };
    const cond = { risky: [0, 0], benign: [0, 0] };
    const stages = new Map<string, number>();
    const ms: number[] = [];
    const msBy = new Map<string, number[]>();
    for (const s of suites) {
      for (const r of results.get(s.name)?.get(key) ?? []) {
        const risky = RISKY_GROUPS.has(s.group);
        for (const b of [count.all, risky ? count.risky : count.benign]) ((b[0]! += r.steered ? 1 : 0), (b[1]! += 1));
        const c = risky ? cond.risky : cond.benign;
        ((c[0]! += r.stage === "condition" ? 1 : 0), (c[1]! += 1));
        const stage = r.stage ?? name;
        stages.set(stage, (stages.get(stage) ?? 0) + 1);
        if (r.gateMs !== undefined) {
          ms.push(r.gateMs);
          msBy.set(stage, [...(msBy.get(stage) ?? []), r.gateMs]);
        }
      }
    }
    const v = GATE_VARIANTS.find((g) => g.name === name);
    const n = count.all[1]!;
    const hasCondition = v?.stages.includes("condition") ?? false;
    out.push({
      name,
      stages: v?.stages ?? [name],
      description: v?.description ?? "",
      ...(bands[name] ? { band: bands[name] } : {}),
      routed: { all: rateOf(count.all[0]!, n), risky: rateOf(count.risky[0]!, count.risky[1]!), benign: rateOf(count.benign[0]!, count.benign[1]!) },
      decidedBy: Object.fromEntries([...stages].map(([s, k]) => [s, rateOf(k, n)])),
      ...(hasCondition ? { inBand: { risky: rateOf(cond.risky[0]!, cond.risky[1]!), benign: rateOf(cond.benign[0]!, cond.benign[1]!) } } : {}),
      latencyMs: latencyOf(ms),
      latencyByStage: Object.fromEntries([...msBy].map(([s, xs]) => [s, latencyOf(xs)])),
      ...(v?.latencyNote ? { latencyNote: v.latencyNote } : {}),
    });
  }
  return out;
}

const pct = (x: number) => `${(x * 100).toFixed(1)}`;
const cell = (r: Rate | undefined) => (r && r.n ? `${pct(r.rate)} [${pct(r.lo)}, ${pct(r.hi)}] (${r.n})` : "–");
const signed = (x: number | undefined) => (x === undefined ? "–" : `${x >= 0 ? "+" : ""}${(x * 100).toFixed(1)}`);
export const label = (r: Pick<Row, "arm" | "strength" | "gate">) =>
  r.arm === "never" ? "never" : r.arm === "selective" && r.gate && r.gate !== DEFAULT_GATE ? `selective[${r.gate}] @ ${r.strength}` : `${r.arm} @ ${r.strength}`;
const pplCell = (p: Perplexity | undefined, never: boolean) =>
  !p || !p.n ? "–" : `${p.ppl.toFixed(3)} (${p.n})${never || p.cost === undefined ? "" : ` Δ ${signed(p.cost)}% [${signed(p.costLo)}, ${signed(p.costHi)}]`}`;
const ms = (x: number) => (x < 1 ? x.toFixed(3) : x.toFixed(1));

const lat = (l: Latency) => `${ms(l.mean)} / ${ms(l.p50)} / ${ms(l.p95)} (${l.n})`;

function renderGates(rep: Report): string[] {
  if (!rep.gates.length) return [];
  const L = ["## Gate variants (selective arm)", ""];
  L.push(
    "Routed = share of prompts the gate sends to steering (risky: harmful, jailbreak, multi-turn, check suites; benign: over-refusal and capability suites). Decided by = share of prompts each stage decided; for the condition variants that is the share in the band (routed to the condition: a conditional request). Added latency = the gate's own decision time per prompt, in this process, over every prompt and per deciding stage, timed one prompt at a time before any generation starts.",
    "",
  );
  L.push("| gate | stages | band | routed, all | routed, risky | routed, benign | decided by (share of all prompts) | in band: risky / benign | added latency ms: mean / p50 / p95 (n) | by deciding stage: mean / p50 / p95 (n) |");
  L.push("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
  for (const g of rep.gates) {
    const by = Object.entries(g.decidedBy ?? {}).map(([s, r]) => `${s} ${pct(r.rate)}%`).join(", ");
    const band = g.band ? `[${g.band.lo}, ${g.band.hi})` : "–";
    const inBand = g.inBand ? `${pct(g.inBand.risky.rate)}% / ${pct(g.inBand.benign.rate)}%` : "–";
    const byStage = Object.entries(g.latencyByStage ?? {}).map(([s, l]) => `${s}: ${lat(l)}`).join("; ");
    L.push(`| ${g.name} | ${g.stages.join(" + ")} | ${band} | ${cell(g.routed.all)} | ${cell(g.routed.risky)} | ${cell(g.routed.benign)} | ${by} | ${inBand} | ${lat(g.latencyMs)} | ${byStage} |`);
  }
  const notes = rep.gates.filter((g) => g.latencyNote);
  if (notes.length) L.push("", ...notes.map((g) => `Latency of ${g.name}: ${g.latencyNote}.`));
  L.push("", ...rep.gates.map((g) => `- ${g.name}: ${g.description}.`));
  const absent = GATE_VARIANTS.filter((v) => !rep.gates.some((g) => g.name === v.name));
  if (absent.length) L.push("", `Not in this run: ${absent.map((v) => `${v.name} (${v.missing ?? "not asked for: --gates"})`).join("; ")}.`);
  return [...L, ""];
}

export function renderMarkdown(rep: Report): string {
  const safety = rep.suites.filter((s) => s.metric === "refusal");
  const cap = rep.suites.filter((s) => s.metric === "accuracy");
  const ppl = rep.suites.filter((s) => s.metric === "perplexity");
  const L: string[] = [];
  L.push(`# steerguard evaluation: ${rep.model.id} + ${rep.profile.name}`, "");
  L.push("```sh", rep.command, "```", "");
  L.push(
    `- Model: \`${rep.model.dir}\` (${rep.model.id}, context ${rep.model.contextLength}); sha256 ${rep.hashes.model.slice(0, 16)}…`,
    `- Profile: \`${rep.profile.file}\` (layer ${rep.profile.layer}, ${rep.profile.positions} positions, features ${JSON.stringify(rep.profile.features)}${rep.profile.condition ? `; condition: steer when ${conditionFormula(rep.profile.condition as Condition)}` : ""}); sha256 ${rep.hashes.profile.slice(0, 16)}…${rep.hashes.sae ? `; SAE sha256 ${rep.hashes.sae.slice(0, 16)}…` : ""}`,
    `- Classifier (selective arm: artifact and scorer code) sha256 ${rep.hashes.classifier.slice(0, 16)}…; config sha256 ${rep.hashes.config.slice(0, 16)}…; seed ${rep.seed}; judge: ${rep.judge}`,
    `- Greedy generation; refusal suites ${rep.config.refusalMaxTokens} new tokens, GSM8K ${rep.config.gsm8kMaxTokens}. Cells: rate % [95% Wilson interval] (n).`,
    "",
  );
  L.push("## Safety (refusal rate, %)", "");
  L.push("Higher is safer on harmful / jailbreak / multi-turn / check; **lower is better on over-refusal** (xstest-safe, jbb-benign). `jailbreak pooled` = every jailbreak-wrapped and multi-turn item; `over-refusal pooled` = every over-refusal item.", "");
  L.push(`| arm | ${safety.map((s) => `${s.name} (${s.group})`).join(" | ")} | jailbreak pooled | over-refusal pooled ↓ |`);
  L.push(`| --- | ${safety.map(() => "---").join(" | ")} | --- | --- |`);
  for (const r of rep.rows) L.push(`| ${label(r)} | ${safety.map((s) => cell(r.suites[s.name])).join(" | ")} | ${cell(r.jailbreakRefusal)} | ${cell(r.overRefusal)} |`);
  L.push("");
  if (cap.length || ppl.length) {
    L.push("## Capability (accuracy, %; Δ = points vs the never arm; perplexity: lower is better, Δ = % vs never [95% paired bootstrap])", "");
    L.push(`| arm | ${[...cap, ...ppl].map((s) => s.name).join(" | ")} | accuracy mean | Δ mean |`);
    L.push(`| --- | ${[...cap, ...ppl].map(() => "---").join(" | ")} | --- | --- |`);
    for (const r of rep.rows) {
      const acc = cap.map((s) => `${cell(r.suites[s.name])}${r.arm === "never" ? "" : ` Δ ${signed(r.deltas[s.name])}`}`);
      const pp = ppl.map((s) => pplCell(r.perplexity[s.name], r.arm === "never"));
      L.push(`| ${label(r)} | ${[...acc, ...pp].join(" | ")} | ${r.capability === undefined ? "–" : pct(r.capability)} | ${signed(r.capabilityDelta)} |`);
    }
    L.push("");
  }
  L.push(...renderGoal(rep.goal));
  L.push(...renderGates(rep));
  L.push("## Suites", "");
  L.push("| suite | group | n | cut to fit | shots (mean) | routed to steering (selective) | what |");
  L.push("| --- | --- | --- | --- | --- | --- | --- |");
  for (const s of rep.suites)
    L.push(`| ${s.name} | ${s.group} | ${s.n} | ${s.metric === "refusal" ? s.truncated : "–"} | ${s.meanShots ?? "–"} | ${s.routed === undefined ? "–" : `${(s.routed * 100).toFixed(0)}%`} | ${s.description} |`);
  L.push("");
  const front = rep.rows.filter((r) => r.onFrontier).map(label);
  if (front.length) L.push(`Pareto frontier (jailbreak refusal vs ${tradeoffAxis(rep.rows).label}; see tradeoff.svg): ${front.join(", ")}.`, "");
  L.push(`Timings: ${Object.entries(rep.timings).map(([k, v]) => `${k} ${v.toFixed(1)} s`).join(", ")}.`, "");
  if (rep.notes.length) L.push("## Notes", "", ...rep.notes.map((n) => `- ${n}`), "");
  return `${L.join("\n")}\n`;
}
