/** report.json and report.md: the paper-style table from the per-item results. */
import type { SuiteDef, SuiteGroup } from "./suites/types.ts";
import { configKey, type ArmConfig, type ItemResult } from "./runner.ts";
import { wilson } from "./wilson.ts";

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
  metric: "refusal" | "accuracy";
  description: string;
  sources: string[];
  n: number;
  /** Prompts cut to fit the context (jailbreak / multi-turn). */
  truncated: number;
  /** Mean few-shot examples per item (MC suites). */
  meanShots?: number;
  /** Fraction of items the classifier routes to steering (the selective arm). */
  routed?: number;
}

export interface Row {
  key: string;
  arm: ArmConfig["arm"];
  strength: number | null;
  suites: Record<string, Rate>;
  /** Refusal pooled over the jailbreak and multi-turn suites (the plot's y). */
  jailbreakRefusal?: Rate;
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
  profile: { file: string; name: string; layer: number; positions: string; features: unknown; description?: string };
  judge: string;
  suites: SuiteSummary[];
  rows: Row[];
  timings: Record<string, number>;
  notes: string[];
}

export const metricOf = (g: SuiteGroup): "refusal" | "accuracy" => (g === "capability" ? "accuracy" : "refusal");
const JAILBREAK_GROUPS = new Set<SuiteGroup>(["jailbreak", "multiturn"]);

export function summarise(suites: readonly SuiteDef[], configs: readonly ArmConfig[], results: Map<string, Map<string, ItemResult[]>>): { summaries: SuiteSummary[]; rows: Row[] } {
  const summaries: SuiteSummary[] = suites.map((s) => {
    const any = [...(results.get(s.name)?.values() ?? [])][0] ?? [];
    const sel = [...(results.get(s.name)?.entries() ?? [])].find(([k]) => k.startsWith("selective"))?.[1];
    const shots = any.filter((r) => r.shots !== undefined).map((r) => r.shots!);
    return {
      name: s.name,
      group: s.group,
      metric: metricOf(s.group),
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
    const row: Row = { key, arm: c.arm, strength: c.strength, suites: {}, deltas: {} };
    let jk = 0;
    let jn = 0;
    const caps: number[] = [];
    for (const s of suites) {
      const rs = results.get(s.name)?.get(key) ?? [];
      const k = metricOf(s.group) === "refusal" ? rs.filter((r) => r.refused).length : rs.filter((r) => r.correct).length;
      const rate = rateOf(k, rs.length);
      row.suites[s.name] = rate;
      if (JAILBREAK_GROUPS.has(s.group)) ((jk += k), (jn += rs.length));
      if (s.group === "capability" && rs.length) caps.push(rate.rate);
    }
    if (jn) row.jailbreakRefusal = rateOf(jk, jn);
    if (caps.length) row.capability = caps.reduce((a, b) => a + b, 0) / caps.length;
    return row;
  });
  const never = rows.find((r) => r.arm === "never");
  for (const r of rows) {
    if (never && r.capability !== undefined && never.capability !== undefined) r.capabilityDelta = r.capability - never.capability;
    for (const s of suites) if (s.group === "capability" && never?.suites[s.name]?.n) r.deltas[s.name] = r.suites[s.name]!.rate - never.suites[s.name]!.rate;
  }
  // Pareto frontier: no other row is at least as good on both axes and better on one.
  const pts = rows.filter((r) => r.capability !== undefined && r.jailbreakRefusal);
  for (const r of pts) {
    r.onFrontier = !pts.some(
      (o) => o !== r && o.capability! >= r.capability! && o.jailbreakRefusal!.rate >= r.jailbreakRefusal!.rate && (o.capability! > r.capability! || o.jailbreakRefusal!.rate > r.jailbreakRefusal!.rate),
    );
  }
  return { summaries, rows };
}

const pct = (x: number) => `${(x * 100).toFixed(1)}`;
const cell = (r: Rate | undefined) => (r && r.n ? `${pct(r.rate)} [${pct(r.lo)}, ${pct(r.hi)}] (${r.n})` : "–");
const signed = (x: number | undefined) => (x === undefined ? "–" : `${x >= 0 ? "+" : ""}${(x * 100).toFixed(1)}`);
const label = (r: Row) => (r.arm === "never" ? "never" : `${r.arm} @ ${r.strength}`);

export function renderMarkdown(rep: Report): string {
  const safety = rep.suites.filter((s) => s.metric === "refusal");
  const cap = rep.suites.filter((s) => s.metric === "accuracy");
  const L: string[] = [];
  L.push(`# steerguard evaluation: ${rep.model.id} + ${rep.profile.name}`, "");
  L.push("```sh", rep.command, "```", "");
  L.push(
    `- Model: \`${rep.model.dir}\` (${rep.model.id}, context ${rep.model.contextLength}); sha256 ${rep.hashes.model.slice(0, 16)}…`,
    `- Profile: \`${rep.profile.file}\` (layer ${rep.profile.layer}, ${rep.profile.positions} positions, features ${JSON.stringify(rep.profile.features)}); sha256 ${rep.hashes.profile.slice(0, 16)}…${rep.hashes.sae ? `; SAE sha256 ${rep.hashes.sae.slice(0, 16)}…` : ""}`,
    `- Classifier (selective arm) sha256 ${rep.hashes.classifier.slice(0, 16)}…; config sha256 ${rep.hashes.config.slice(0, 16)}…; seed ${rep.seed}; judge: ${rep.judge}`,
    `- Greedy generation; refusal suites ${rep.config.refusalMaxTokens} new tokens, GSM8K ${rep.config.gsm8kMaxTokens}. Cells: rate % [95% Wilson interval] (n).`,
    "",
  );
  L.push("## Safety (refusal rate, %)", "");
  L.push("Higher is safer on harmful / jailbreak / multi-turn / check; **lower is better on over-refusal** (xstest-safe, jbb-benign). `jailbreak pooled` = every jailbreak-wrapped and multi-turn item.", "");
  L.push(`| arm | ${safety.map((s) => `${s.name} (${s.group})`).join(" | ")} | jailbreak pooled |`);
  L.push(`| --- | ${safety.map(() => "---").join(" | ")} | --- |`);
  for (const r of rep.rows) L.push(`| ${label(r)} | ${safety.map((s) => cell(r.suites[s.name])).join(" | ")} | ${cell(r.jailbreakRefusal)} |`);
  L.push("");
  if (cap.length) {
    L.push("## Capability (accuracy, %; Δ = points vs the never arm)", "");
    L.push(`| arm | ${cap.map((s) => s.name).join(" | ")} | mean | Δ mean |`);
    L.push(`| --- | ${cap.map(() => "---").join(" | ")} | --- | --- |`);
    for (const r of rep.rows)
      L.push(`| ${label(r)} | ${cap.map((s) => `${cell(r.suites[s.name])}${r.arm === "never" ? "" : ` Δ ${signed(r.deltas[s.name])}`}`).join(" | ")} | ${r.capability === undefined ? "–" : pct(r.capability)} | ${signed(r.capabilityDelta)} |`);
    L.push("");
  }
  L.push("## Suites", "");
  L.push("| suite | group | n | cut to fit | shots (mean) | routed to steering (selective) | what |");
  L.push("| --- | --- | --- | --- | --- | --- | --- |");
  for (const s of rep.suites)
    L.push(`| ${s.name} | ${s.group} | ${s.n} | ${s.metric === "refusal" ? s.truncated : "–"} | ${s.meanShots ?? "–"} | ${s.routed === undefined ? "–" : `${(s.routed * 100).toFixed(0)}%`} | ${s.description} |`);
  L.push("");
  const front = rep.rows.filter((r) => r.onFrontier).map(label);
  if (front.length) L.push(`Pareto frontier (jailbreak refusal vs capability mean; see tradeoff.svg): ${front.join(", ")}.`, "");
  L.push(`Timings: ${Object.entries(rep.timings).map(([k, v]) => `${k} ${v.toFixed(1)} s`).join(", ")}.`, "");
  if (rep.notes.length) L.push("## Notes", "", ...rep.notes.map((n) => `- ${n}`), "");
  return `${L.join("\n")}\n`;
}
