/**
 * bench:latency's table: one column per scheduler setting, one row per
 * figure, medians over rounds; then the issue's goals checked for each
 * chunked setting against the same run's figures.
 */
import { prefillFlops, rateCeiling, type PrefillShape } from "../../sidecar/model/flops.ts";
import type { LlamaDims } from "../../sidecar/model/weights.ts";
import { median, table } from "../bench-engine.ts";
import { chunkingOf } from "../../sidecar/engine/engine.ts";
import { idleGrowth } from "../../sidecar/engine/prefill.ts";

/** A scheduler setting: "off" (whole prompts) or a prompt chunk and a step budget, and perhaps how many steps a prompt gives way and its chunk alone. */
export interface Setting {
  label: string;
  prefillChunk: number;
  stepTokens: number;
  /** --prefill-yield (undefined: the sidecar's default). */
  prefillYield?: number;
  /** --idle-chunk (undefined: the sidecar's default). */
  idleChunk?: number;
}

/** Parses "off", "CHUNK/STEP" (e.g. "64/128"), "CHUNK/STEP/YIELD" (e.g. "64/128/0") or "CHUNK/STEP/YIELD/IDLE" (e.g. "64/128/4/64"). */
export function parseSetting(raw: string): Setting {
  const s = raw.trim();
  if (s === "off") return { label: "off", prefillChunk: 0, stepTokens: 0 };
  const m = /^(\d+)\/(\d+)(?:\/(\d+)(?:\/(\d+))?)?$/.exec(s);
  if (!m || Number(m[1]) < 1 || Number(m[2]) < Number(m[1])) throw new Error(`a setting is "off", CHUNK/STEP, CHUNK/STEP/YIELD or CHUNK/STEP/YIELD/IDLE with 1 <= CHUNK <= STEP, got "${raw}"`);
  let setting: Setting = { label: `chunk ${m[1]}/${m[2]}`, prefillChunk: Number(m[1]), stepTokens: Number(m[2]) };
  if (m[3] !== undefined) setting = { ...setting, label: `${setting.label} yield ${m[3]}`, prefillYield: Number(m[3]) };
  if (m[4] !== undefined) setting = { ...setting, label: `${setting.label} idle ${m[4]}`, idleChunk: Number(m[4]) };
  return setting;
}

/** The tokens per run of a prompt prefilled alone, as the prefill rates are timed (0: whole): the engine's own rule (prefill.ts idleGrowth). */
export function aloneChunk(s: Setting): number {
  const c = chunkingOf(s);
  const n = c.chunk + idleGrowth(c, true);
  return Number.isFinite(n) ? n : 0;
}

/** Median, 99th percentile (nearest rank) and max of a stream's gaps. */
export function gapStats(gaps: number[]): { median: number; p99: number; max: number } {
  if (gaps.length === 0) return { median: NaN, p99: NaN, max: NaN };
  const sorted = [...gaps].sort((a, b) => a - b);
  return { median: median(sorted), p99: sorted[Math.min(sorted.length - 1, Math.ceil(0.99 * sorted.length) - 1)]!, max: sorted.at(-1)! };
}

/** One round's figures for one setting. */
export interface Figures {
  /** Per running stream. */
  gaps: { median: number; p99: number; max: number }[];
  longTtftMs: number;
  /** A short prompt's TTFT with the running streams only (before the long prompt). */
  shortWithStreamsMs: number;
  /** A short prompt's TTFT, sent 1 ms after the long prompt. */
  shortTtftMs: number;
  /** Short prompts' TTFTs, sent during the long prompt's prefill (none when it went in one step). */
  shortDuringMs: number[];
  /** A short prompt's TTFT on an idle engine. */
  shortAloneMs: number;
  /** Prefill tokens/s by prompt length. */
  prefill: Record<number, number>;
  /** The same in each pass over the lengths (measure.ts prefillRates). */
  prefillByPass: Record<number, number>[];
  decodeB1: number;
  decodeBatch: number;
  /** Wall time of the step in which the long row joined the batch and of the next two, ms. */
  joinStepsMs: number[];
  /** Minor page faults in those three steps (NaN where /proc is not there). */
  joinFaults: number;
}

const num = (x: number) => (!Number.isFinite(x) ? "-" : x >= 100 ? Math.round(x).toLocaleString("en-US") : x.toFixed(1));
const ratio = (x: number) => (Number.isFinite(x) ? `${x.toFixed(2)}x` : "-");
const pct = (x: number) => (Number.isFinite(x) ? `${Math.round(x * 100)}%` : "-");
const med = (xs: number[]) => median(xs.filter(Number.isFinite));

export interface ReportContext {
  env: string;
  streams: number;
  longTokens: number;
  /** The short prompts' length in tokens (4 unless --short-tokens). */
  shortTokens: number;
  prefillLengths: number[];
  /** Passes a round over the prefill lengths (measure.ts prefillRates). */
  prefillPasses: number;
  batch: number;
  rounds: number;
  /** The model's shape, for the arithmetic of a prefill (sidecar/model/flops.ts). */
  dims: LlamaDims;
  /** Per setting: where its engine runs the output head (every position of a graph that holds it, or the last). */
  headRows: PrefillShape["headRows"][];
}

/** How a setting's engine prefills: its chunk and where its head runs. */
const shapeOf = (s: Setting, i: number, ctx: ReportContext): PrefillShape => ({ chunk: aloneChunk(s), headRows: ctx.headRows[i]! });

/** The longest short-prompt TTFT behind the long one: sent just after it or during its prefill (when any was). */

/** The goals of issue 18 for one chunked setting (medians over rounds); `off` is the plain-attention "off" column, today's behaviour. */
function goals(s: Setting, f: Summary, off: Summary | undefined, ctx: ReportContext, shape: PrefillShape): string[] {
  const maxLen = Math.max(...ctx.prefillLengths);
  const minLen = Math.min(...ctx.prefillLengths);
  const ceiling = rateCeiling(ctx.dims, minLen, maxLen, shape);
  const check = (ok: boolean) => (ok ? "met" : "MISSED");
  const lines = [
    f.gaps.length === 0
      ? `${s.label}: max gap <= 10x median and <= 400 ms: no stream running (--streams 0), not measured`
      : `${s.label}: max gap <= 10x median and <= 400 ms: ${f.gaps.map((g) => `${num(g.max)} ms = ${ratio(g.max / g.median)}`).join(", ")} -> ${check(f.gaps.every((g) => g.max <= 10 * g.median && g.max <= 400))}`,
    `${s.label}: short TTFT behind long <= 2x alone (idle), sent just after it (the issue's case): ${ratio(f.shortTtftMs / f.shortAloneMs)} -> ${check(f.shortTtftMs <= 2 * f.shortAloneMs)}`,
    `${s.label}: the same, sent during its prefill (at most): ${Number.isFinite(f.shortDuringMaxMs) ? `${ratio(f.shortDuringMaxMs / f.shortAloneMs)} -> ${check(f.shortDuringMaxMs <= 2 * f.shortAloneMs)}` : "none sent (one step) -> met"}`,
    `${s.label}: prefill tok/s at ${maxLen} >= 80% of at ${minLen}: ${pct(f.prefill[maxLen]! / f.prefill[minLen]!)} -> ${check(f.prefill[maxLen]! >= 0.8 * f.prefill[minLen]!)} ` +
      `(operations per token allow ${pct(ceiling)} at one speed; ${maxLen} ran at ${pct(f.prefill[maxLen]! / f.prefill[minLen]! / ceiling)} of ${minLen}'s operations/s)`,
  ];
  if (off) {
    lines.push(`${s.label}: decode b1 / b${ctx.batch} vs off (same run): ${ratio(f.decodeB1 / off.decodeB1)} / ${ratio(f.decodeBatch / off.decodeBatch)} -> ` +
      `${check(f.decodeB1 >= 0.95 * off.decodeB1 && f.decodeBatch >= 0.95 * off.decodeBatch)} (within 5% counts as not lower)`);
  }
  return lines;
}

/** The lowest and the highest ratio of two lengths' rates within one pass, over every pass of every round. */
function passRange(byPass: Record<number, number>[], top: number, bottom: number): string {
  const r = byPass.map((p) => p[top]! / p[bottom]!).filter(Number.isFinite);
  return r.length === 0 ? "-" : `${pct(Math.min(...r))}-${pct(Math.max(...r))}`;
}

/** A setting's figures over rounds: each a median; the short prompts sent during the long prefill as the median and the max of each round's. */
type Summary = Omit<Figures, "shortDuringMs"> & { shortDuringMedianMs: number; shortDuringMaxMs: number };

/** Medians over rounds of each figure. */
export function summarize(rounds: Figures[]): Summary {
  const at = <T>(pick: (f: Figures) => T) => rounds.map(pick);
  const lengths = Object.keys(rounds[0]!.prefill).map(Number);
  return {
    gaps: rounds[0]!.gaps.map((_, i) => ({
      median: med(at((f) => f.gaps[i]!.median)),
      p99: med(at((f) => f.gaps[i]!.p99)),
      max: med(at((f) => f.gaps[i]!.max)),
    })),
    longTtftMs: med(at((f) => f.longTtftMs)),
    shortWithStreamsMs: med(at((f) => f.shortWithStreamsMs)),
    shortTtftMs: med(at((f) => f.shortTtftMs)),
    shortDuringMedianMs: med(at((f) => median(f.shortDuringMs))),
    shortDuringMaxMs: med(at((f) => Math.max(...f.shortDuringMs))),
    shortAloneMs: med(at((f) => f.shortAloneMs)),
    prefill: Object.fromEntries(lengths.map((n) => [n, med(at((f) => f.prefill[n]!))])),
    prefillByPass: rounds.flatMap((f) => f.prefillByPass),
    decodeB1: med(at((f) => f.decodeB1)),
    decodeBatch: med(at((f) => f.decodeBatch)),
    joinStepsMs: rounds[0]!.joinStepsMs.map((_, k) => med(at((f) => f.joinStepsMs[k] ?? NaN))),
    joinFaults: med(at((f) => f.joinFaults)),
  };
}

export function report(settings: Setting[], results: Figures[][], ctx: ReportContext): string {
  const sums = results.map(summarize);
  const offIndex = settings.findIndex((s) => s.label === "off");
  const row = (label: string, cell: (f: Summary) => string) => [label, ...sums.map(cell)];
  const rows: string[][] = [];
  for (let i = 0; i < ctx.streams; i++) {
    rows.push(row(`stream ${i + 1} gap median / p99 / max ms`, (f) => `${num(f.gaps[i]!.median)} / ${num(f.gaps[i]!.p99)} / ${num(f.gaps[i]!.max)}`));
    rows.push(row(`stream ${i + 1} max gap / median`, (f) => ratio(f.gaps[i]!.max / f.gaps[i]!.median)));
  }
  rows.push(row(`long prompt (${ctx.longTokens} tok) TTFT ms`, (f) => num(f.longTtftMs)));
  rows.push(row("steps as the long row joins ms", (f) => f.joinStepsMs.map(num).join(" / ")));
  rows.push(row("page faults in those steps", (f) => num(f.joinFaults)));
  rows.push(row("short prompt TTFT sent just after it ms", (f) => num(f.shortTtftMs)));
  rows.push(row("short TTFT sent during its prefill, median / max ms", (f) => `${num(f.shortDuringMedianMs)} / ${num(f.shortDuringMaxMs)}`));
  rows.push(row("short prompt TTFT with the streams only ms", (f) => num(f.shortWithStreamsMs)));
  rows.push(row("short prompt TTFT alone (idle) ms", (f) => num(f.shortAloneMs)));
  rows.push(row("short just after / alone", (f) => ratio(f.shortTtftMs / f.shortAloneMs)));
  rows.push(row("short during, max / alone", (f) => ratio(f.shortDuringMaxMs / f.shortAloneMs)));
  for (const n of ctx.prefillLengths) rows.push(row(`prefill tok/s at ${n}`, (f) => num(f.prefill[n]!)));
  const maxLen = Math.max(...ctx.prefillLengths);
  const minLen = Math.min(...ctx.prefillLengths);
  rows.push(row(`prefill ${maxLen} / ${minLen}`, (f) => pct(f.prefill[maxLen]! / f.prefill[minLen]!)));
  rows.push(row(`prefill ${maxLen} / ${minLen}, lowest-highest of one pass`, (f) => passRange(f.prefillByPass, maxLen, minLen)));
  const gflops = (i: number, n: number) => (prefillFlops(ctx.dims, n, shapeOf(settings[i]!, i, ctx)).total / n) * sums[i]!.prefill[n]! / 1e9;
  for (const n of ctx.prefillLengths) rows.push([`prefill GFLOP/s at ${n}`, ...sums.map((_, i) => num(gflops(i, n)))]);
  rows.push([`prefill ${maxLen} / ${minLen}: ceiling at one speed`, ...settings.map((s, i) => pct(rateCeiling(ctx.dims, minLen, maxLen, shapeOf(s, i, ctx))))]);
  rows.push(row("decode b1 tok/s", (f) => num(f.decodeB1)));
  rows.push(row(`decode b${ctx.batch} tok/s`, (f) => num(f.decodeBatch)));
  let out = `${ctx.env}\n${ctx.streams === 0 ? "no stream running" : `${ctx.streams} running stream${ctx.streams > 1 ? "s" : ""}`}, then a ${ctx.longTokens}-token prompt, a ${ctx.shortTokens}-token one 1 ms after it and three during its prefill; ` +
    `medians of ${ctx.rounds} round${ctx.rounds > 1 ? "s" : ""}, settings interleaved in each round, prefill rates over ${ctx.prefillPasses} pass${ctx.prefillPasses > 1 ? "es" : ""} a round (CHUNK/STEP = --prefill-chunk / --step-tokens; yield Y = --prefill-yield; idle I = --idle-chunk, a prompt's chunk when it is the only work, as in the prefill rates)\n\n`;
  out += table(["figure", ...settings.map((s) => s.label)], rows, 1);
  out += "\ngoals (issue 18):\n";
  settings.forEach((s, i) => {
    if (s.prefillChunk > 0) out += goals(s, sums[i]!, offIndex >= 0 ? sums[offIndex] : undefined, ctx, shapeOf(s, i, ctx)).map((l) => `  ${l}\n`).join("");
  });
  return out;
}
