/**
 * The suite's report: a Markdown table (one row per case, one per load
 * level), a second with each row's requests per endpoint (requests,
 * streamed, failures, hangs, error ends, the failure policy's answers, the
 * routes taken), then the goals missed and the notes worth reading.
 */
import type { RunResult } from "./runner.ts";
import type { CaseRow, EndpointCounts, ShedFigures } from "./types.ts";
import { ENDPOINTS } from "./wire.ts";

const pct = (x: number) => `${(100 * x).toFixed(x > 0 && x < 0.01 ? 1 : 0)}%`;

export function shedText(s: ShedFigures | null): string {
  if (!s) return "-";
  if (s.retryAfter === null) return pct(s.rate);
  return `${pct(s.rate)} (retry-after ${pct(s.retryAfter)})`;
}

const recovery = (ms: number | null) => (ms === null ? "-" : `${(ms / 1000).toFixed(2)} s`);

export const COLUMNS = ["case", "fault", "requests", "failures", "hangs", "events lost", "recovery", "shed rate", "goals"] as const;

export function rowCells(r: CaseRow): string[] {
  return [
    r.case,
    r.fault || "-",
    String(r.requests),
    String(r.failures),
    String(r.hangs),
    String(r.eventsLost),
    recovery(r.recoveryMs),
    shedText(r.shed),
    r.pass ? "met" : `MISSED ${r.goals.filter((g) => !g.ok).length}`,
  ];
}

/** A Markdown table with padded columns. */
export function markdownTable(header: readonly string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  return [line(header), `| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`, ...rows.map(line)].join("\n");
}

export const ENDPOINT_COLUMNS = ["case", "fault", "endpoint", "requests", "streamed", "failures", "hangs", "error ends", "refused", "429/503", "upstream", "routes u/c/s/b"] as const;

function endpointCells(r: CaseRow, ep: string, c: EndpointCounts): string[] {
  const { unsteered, conditional, steered, blocked } = c.routes;
  return [r.case, r.fault || "-", ep, ...[c.requests, c.streamed, c.failures, c.hangs, c.errorEnds, c.refusals, c.shed, c.upstream].map(String), `${unsteered}/${conditional}/${steered}/${blocked}`];
}

/** One line per case and endpoint that got requests. */
export function endpointRows(rows: readonly CaseRow[]): string[][] {
  return rows.flatMap((r) => ENDPOINTS.filter((ep) => (r.byEndpoint?.[ep].requests ?? 0) > 0).map((ep) => endpointCells(r, ep, r.byEndpoint![ep])));
}

export function report(result: RunResult): string {
  const out: string[] = [markdownTable(COLUMNS, result.rows.map(rowCells)), ""];
  const perEndpoint = endpointRows(result.rows);
  if (perEndpoint.length) out.push("Per endpoint (refused: the edge's refusal, blocked or fail-closed; upstream: the failure policy's fallback for safe chat; routes by x-steerguard-route):", "", markdownTable(ENDPOINT_COLUMNS, perEndpoint), "");
  const missed = result.rows.flatMap((r) => r.goals.filter((g) => !g.ok).map((g) => `- ${r.case}: ${g.name}${g.detail ? ` — ${g.detail}` : ""}`));
  if (missed.length) out.push("Goals missed:", ...missed, "");
  const notes = result.rows.flatMap((r) => r.notes.map((n) => `- ${r.case}: ${n}`));
  if (notes.length) out.push("Notes:", ...notes, "");
  if (result.leftovers.pids.length) out.push(`Processes left running after cleanup (killed): ${result.leftovers.pids.join(", ")}`);
  if (result.leftovers.runDir) out.push(`Run directory left behind: ${result.leftovers.runDir}`);
  const total = result.rows.reduce((n, r) => n + r.requests, 0);
  out.push(
    `${result.rows.length} rows, ${total} requests in ${(result.durationMs / 1000).toFixed(1)} s${result.quick ? " (--quick)" : ""}, seed ${result.seed}, routes by ${result.classifier}: ` +
      (result.interrupted ? "INTERRUPTED" : result.pass ? "every goal met" : `${result.rows.filter((r) => !r.pass).length} row(s) missed a goal`),
  );
  return out.join("\n") + "\n";
}
