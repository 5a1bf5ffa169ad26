/**
 * `npm run ab-report -- --events FILE`: an A/B readout from the edge's
 * decision events (JSON lines): per arm, request counts, the steered,
 * conditional and blocked fractions, the share of conditional requests the
 * sidecar's in-model condition steered, errors and fallbacks, latency percentiles (total and
 * first token), mean risk, token counts, and the refusal rate: edge refusals
 * (finish_reason content_filter) plus a keyword judge on completions where
 * text logging (events.include_text) was on.
 */
import { createReadStream, existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { conditionLabel, type DecisionEvent } from "../edge/events/index.ts";

const HELP = `Usage: npm run ab-report -- --events FILE [--json] [--experiment NAME]

Reads the edge's decision events (JSON lines, edge config events.path) and prints
per-arm counts, steered and conditional fractions (and the share of conditional
requests the in-model condition steered), latency percentiles and refusal rate.

Options:
  --events FILE       the events file (required)
  --experiment NAME   only events of this experiment (default: all; arms are keyed experiment/arm)
  --json              print the report as JSON instead of a table
  -h, --help          show this help
`;

/** Phrases that mark a refusal (a keyword judge, as in the refusal literature). */
export const REFUSAL_PATTERNS: RegExp[] = [
  /\bI(?:'m| am) sorry\b/i,
  /\bI apologi[sz]e\b/i,
  /\bI can(?:not|'t|’t) (?:help|assist|provide|do|comply|support|create|write|give)\b/i,
  /\bI (?:won't|will not|must decline|decline)\b/i,
  /\bI(?:'m| am) (?:not able|unable) to\b/i,
  /\bas an AI\b/i,
  /\bnot something I (?:can|will)\b/i,
  /\b(?:illegal|unethical|harmful) (?:and|or) (?:illegal|unethical|harmful|dangerous)\b/i,
];

/** Keyword refusal judge on a completion's text. */
export function isRefusal(text: string): boolean {
  return REFUSAL_PATTERNS.some((p) => p.test(text.slice(0, 400)));
}

export function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export interface ArmReport {
  experiment: string;
  arm: string;
  policy: string;
  requests: number;
  routes: { steered: number; unsteered: number; blocked: number; conditional: number };
  steered_fraction: number;
  /** Requests routed conditional (risk in the arm's condition band). */
  conditional_fraction: number;
  /**
   * What the in-model condition decided on the conditional route; unavailable = sent steered because
   * the profile has no condition (the event's condition_fallback); none = no outcome (the sidecar failed first).
   */
  condition: { steer: number; pass: number; unavailable: number; none: number };
  /** Share of conditional requests with an outcome that the condition steered; null without any. */
  condition_steer_rate: number | null;
  errors: number;
  fallbacks: number;
  mean_risk: number;
  latency_ms: { p50: number | null; p95: number | null; p99: number | null };
  first_token_ms: { p50: number | null; p99: number | null };
  completion_tokens: number;
  /** Refusals among judged answers: content_filter, or keyword judge where text was logged. */
  refusals: number;
  judged: number;
  refusal_rate: number | null;
}

export function report(events: Iterable<DecisionEvent>, experiment?: string): ArmReport[] {
  const by = new Map<string, { e: DecisionEvent[] }>();
  for (const e of events) {
    if (experiment && e.experiment !== experiment) continue;
    const k = `${e.experiment}/${e.arm}`;
    let g = by.get(k);
    if (!g) by.set(k, (g = { e: [] }));
    g.e.push(e);
  }
  const out: ArmReport[] = [];
  for (const { e } of by.values()) {
    const routes = { steered: 0, unsteered: 0, blocked: 0, conditional: 0 };
    const condition = { steer: 0, pass: 0, unavailable: 0, none: 0 };
    let errors = 0;
    let fallbacks = 0;
    let risk = 0;
    let tokens = 0;
    let refusals = 0;
    let judged = 0;
    const lat: number[] = [];
    const ttft: number[] = [];
    for (const x of e) {
      routes[x.route]++;
      if (x.route === "conditional") condition[conditionLabel(x)]++;
      if (x.status >= 400 || x.error) errors++;
      if (x.fallback) fallbacks++;
      risk += x.risk;
      tokens += x.completion_tokens ?? 0;
      lat.push(x.latency.total);
      if (x.latency.first_token !== null) ttft.push(x.latency.first_token);
      if (x.finish_reason === "content_filter") {
        judged++;
        refusals++;
      } else if (typeof x.completion === "string" && x.status === 200) {
        judged++;
        if (isRefusal(x.completion)) refusals++;
      }
    }
    lat.sort((a, b) => a - b);
    ttft.sort((a, b) => a - b);
    out.push({
      experiment: e[0].experiment,
      arm: e[0].arm,
      policy: e[0].policy,
      requests: e.length,
      routes,
      steered_fraction: routes.steered / e.length,
      conditional_fraction: routes.conditional / e.length,
      condition,
      condition_steer_rate: condition.steer + condition.pass > 0 ? condition.steer / (condition.steer + condition.pass) : null,
      errors,
      fallbacks,
      mean_risk: risk / e.length,
      latency_ms: { p50: percentile(lat, 50), p95: percentile(lat, 95), p99: percentile(lat, 99) },
      first_token_ms: { p50: percentile(ttft, 50), p99: percentile(ttft, 99) },
      completion_tokens: tokens,
      refusals,
      judged,
      refusal_rate: judged > 0 ? refusals / judged : null,
    });
  }
  return out.sort((a, b) => (a.experiment + a.arm).localeCompare(b.experiment + b.arm));
}

function fmt(n: number | null, digits = 1): string {
  return n === null ? "-" : n.toFixed(digits);
}

export function table(rows: ArmReport[]): string {
  const head = ["experiment/arm", "policy", "requests", "steered", "conditional", "cond. steered", "blocked", "errors", "fallbacks", "risk", "p50 ms", "p95 ms", "p99 ms", "ttft p50", "refusal rate (judged)"];
  const body = rows.map((r) => [
    `${r.experiment}/${r.arm}`,
    r.policy,
    String(r.requests),
    `${(r.steered_fraction * 100).toFixed(1)}%`,
    `${(r.conditional_fraction * 100).toFixed(1)}%`,
    r.condition_steer_rate === null ? "-" : `${(r.condition_steer_rate * 100).toFixed(1)}% (${r.condition.steer + r.condition.pass})`,
    String(r.routes.blocked),
    String(r.errors),
    String(r.fallbacks),
    r.mean_risk.toFixed(3),
    fmt(r.latency_ms.p50),
    fmt(r.latency_ms.p95),
    fmt(r.latency_ms.p99),
    fmt(r.first_token_ms.p50),
    r.refusal_rate === null ? "- (no text logged)" : `${(r.refusal_rate * 100).toFixed(1)}% (${r.judged})`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [line(head), line(widths.map((w) => "-".repeat(w))), ...body.map(line)].join("\n");
}

export async function readEvents(path: string): Promise<{ events: DecisionEvent[]; bad: number }> {
  const events: DecisionEvent[] = [];
  let bad = 0;
  const rl = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  for await (const line of rl) {
    if (!line.trim()) continue;
    try {
      const e = JSON.parse(line) as DecisionEvent;
      if (typeof e.arm === "string" && typeof e.route === "string") events.push(e);
      else bad++;
    } catch {
      bad++;
    }
  }
  return { events, bad };
}

async function main() {
  let values: { events?: string; json?: boolean; experiment?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      options: { events: { type: "string" }, json: { type: "boolean" }, experiment: { type: "string" }, help: { type: "boolean", short: "h" } },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`ab-report: ${(err as Error).message}\n\n${HELP}`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  if (!values.events) {
    process.stderr.write(`ab-report: --events FILE is required\n\n${HELP}`);
    process.exit(2);
  }
  if (!existsSync(values.events)) {
    process.stderr.write(`ab-report: no such file: ${values.events}\n`);
    process.exit(2);
  }
  const { events, bad } = await readEvents(values.events);
  const rows = report(events, values.experiment);
  if (values.json) {
    process.stdout.write(JSON.stringify({ events: events.length, skipped_lines: bad, arms: rows }, null, 2) + "\n");
    return;
  }
  process.stdout.write(`${events.length} events${bad ? ` (${bad} unreadable lines skipped)` : ""} from ${values.events}\n\n`);
  process.stdout.write(rows.length ? table(rows) + "\n" : "no events\n");
  if (rows.some((r) => r.routes.conditional > 0)) {
    process.stdout.write("\nconditional: routed to the sidecar's in-model condition (risk in the arm's condition band); cond. steered: the share of those it steered (of those with an outcome).\n");
  }
  if (rows.some((r) => r.refusal_rate === null)) {
    process.stdout.write("\nrefusal rate needs completion text: set events.include_text in the edge config (edge refusals count without it).\n");
  }
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  void main();
}
