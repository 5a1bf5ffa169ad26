/**
 * Runs `count` generated cases against an edge, `concurrency` at a time, and
 * tallies the verdicts (oracle.ts). Stops early if the edge process dies.
 */
import { makeCase, type CaseContext, type FuzzCase } from "./cases.ts";
import { answerProblem, judge, type Verdict } from "./oracle.ts";
import { send, type Outcome } from "./send.ts";

export interface FuzzOptions {
  seed: number;
  count: number;
  /** Run only these case indices (reproduce a finding). */
  only?: number[];
  concurrency: number;
  /** No answer within this many ms is a hang. */
  deadlineMs: number;
  base: URL;
  ctx: CaseContext;
  /** False once the edge process has exited. */
  alive: () => boolean;
  onProgress?: (done: number, total: number) => void;
}

export interface Finding {
  index: number;
  family: string;
  name: string;
  verdict: Verdict;
  status: number | null;
  detail: string;
}

export interface FuzzResult {
  seed: number;
  requests: number;
  counts: Record<Verdict, number>;
  /** Status codes seen (responses only). */
  statuses: Record<string, number>;
  families: Record<string, number>;
  /** 2xx answers by x-steerguard-route, and conditional ones by outcome ("conditional/steer", "conditional/pass"). */
  routes: Record<string, number>;
  crashes: number;
  /** Per endpoint aimed at ("other": another path). */
  endpoints: Record<string, EndpointStats>;
  /** Cases judged other than "ok" (runtime parser errors included), in index order. */
  findings: Finding[];
  /** Whether the goals hold: no 5xx, crash, hang, or non-JSON error that is not the runtime's. */
  goalMet: boolean;
}

export interface EndpointStats {
  requests: number;
  "2xx": number;
  "4xx": number;
  "5xx": number;
  /** 2xx answers streamed (SSE), checked event by event. */
  streams: number;
  /** 400s on a request whose fault lies in known fields, whose `param` was checked against them. */
  blamed: number;
  /** Verdicts that break a goal (5xx, hang, non-JSON error, bad answer, bad error). */
  findings: number;
}

const FAILING: Verdict[] = ["5xx", "hang", "non-json-error", "bad-answer", "bad-error"];

function tally(stats: Record<string, EndpointStats>, c: FuzzCase, o: Outcome, verdict: Verdict): void {
  const s = (stats[c.endpoint] ??= { requests: 0, "2xx": 0, "4xx": 0, "5xx": 0, streams: 0, blamed: 0, findings: 0 });
  s.requests++;
  if (FAILING.includes(verdict)) s.findings++;
  if (o.kind !== "response") return;
  const klass = `${Math.floor(o.status / 100)}xx`;
  if (klass === "2xx" || klass === "4xx" || klass === "5xx") s[klass]++;
  if (o.status === 400 && c.fields?.length && verdict === "ok") s.blamed++;
  if (klass === "2xx" && /^text\/event-stream/i.test(o.headers["content-type"] ?? "")) s.streams++;
}

/** Counts a 2xx answer's route and, on the conditional route, its condition's outcome. */
function countRoute(routes: Record<string, number>, o: Extract<Outcome, { kind: "response" }>): void {
  const route = o.headers["x-steerguard-route"];
  if (o.status >= 300 || !route) return;
  routes[route] = (routes[route] ?? 0) + 1;
  const c = o.headers["x-steerguard-condition"];
  if (c) routes[`${route}/${c}`] = (routes[`${route}/${c}`] ?? 0) + 1;
}

function describe(o: Outcome): { status: number | null; detail: string } {
  if (o.kind === "hang") return { status: null, detail: "no answer before the deadline" };
  if (o.kind === "closed") return { status: null, detail: o.detail };
  const text = new TextDecoder().decode(o.body.subarray(0, 160));
  return { status: o.status, detail: `${o.headers["content-type"] ?? "no content-type"}: ${JSON.stringify(text)}` };
}

export async function runFuzz(opts: FuzzOptions): Promise<FuzzResult> {
  const indices = opts.only ?? Array.from({ length: opts.count }, (_, i) => i);
  const counts: Record<Verdict, number> = { ok: 0, "runtime-parser": 0, closed: 0, "non-json-error": 0, "bad-answer": 0, "bad-error": 0, "5xx": 0, hang: 0 };
  const endpoints: Record<string, EndpointStats> = {};
  const statuses: Record<string, number> = {};
  const families: Record<string, number> = {};
  const routes: Record<string, number> = {};
  const findings: Finding[] = [];
  let next = 0;
  let done = 0;
  let crashed = false;
  const worker = async () => {
    while (next < indices.length && !crashed) {
      const index = indices[next++]!;
      const c = makeCase(opts.seed, index, opts.ctx);
      const outcome = await send(c, opts.base, opts.deadlineMs);
      if (!opts.alive()) {
        crashed = true;
        findings.push({ index, family: c.family, name: c.name, verdict: "closed", status: null, detail: "the edge process exited" });
        return;
      }
      const method = c.transport === "fetch" ? c.method : "POST";
      const expect = { endpoint: c.endpoint, fields: c.fields };
      const verdict = judge(outcome, method, expect);
      counts[verdict]++;
      tally(endpoints, c, outcome, verdict);
      families[c.family] = (families[c.family] ?? 0) + 1;
      if (outcome.kind === "response") statuses[outcome.status] = (statuses[outcome.status] ?? 0) + 1;
      if (outcome.kind === "response") countRoute(routes, outcome);
      if (verdict !== "ok") {
        const d = describe(outcome);
        const problem = outcome.kind === "response" ? answerProblem(outcome, method, expect) : null;
        findings.push({ index, family: c.family, name: c.name, verdict, status: d.status, detail: problem ? `${problem}; ${d.detail}` : d.detail });
      }
      done++;
      opts.onProgress?.(done, indices.length);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency) }, worker));
  findings.sort((a, b) => a.index - b.index);
  const crashes = crashed ? 1 : 0;
  return {
    seed: opts.seed,
    requests: done,
    counts,
    statuses,
    families,
    routes,
    crashes,
    endpoints,
    findings,
    goalMet: crashes === 0 && FAILING.every((v) => counts[v] === 0),
  };
}

/** The summary table. */
export function formatTable(r: FuzzResult): string {
  const rows: [string, number | string][] = [
    ["requests", r.requests],
    ["5xx", r.counts["5xx"]],
    ["crashes (edge process died)", r.crashes],
    ["hangs (no answer before the deadline)", r.counts.hang],
    ["non-JSON error bodies from the edge", r.counts["non-json-error"]],
    ["2xx bodies / streams not in the endpoint's wire format", r.counts["bad-answer"]],
    ["4xx errors without type / param, or blaming the wrong field", r.counts["bad-error"]],
    ["non-JSON error bodies from the runtime's parser (empty 400)", r.counts["runtime-parser"]],
    ["closed by the runtime without an answer", r.counts.closed],
    ["answered by the edge (2xx, or a JSON error)", r.counts.ok],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  const lines = rows.map(([k, v]) => `${k.padEnd(w)}  ${String(v).padStart(6)}`);
  const st = Object.entries(r.statuses).sort(([a], [b]) => Number(a) - Number(b)).map(([s, n]) => `${s}: ${n}`).join(", ");
  lines.push("", `statuses: ${st}`, `families: ${Object.entries(r.families).map(([f, n]) => `${f} ${n}`).join(", ")}`);
  const rt = ["steered", "unsteered", "blocked", "conditional"].map((k) => `${k} ${r.routes[k] ?? 0}`).join(", ");
  lines.push(`routes of 2xx answers: ${rt} (condition: steer ${r.routes["conditional/steer"] ?? 0}, pass ${r.routes["conditional/pass"] ?? 0})`);
  lines.push("", formatEndpoints(r.endpoints));
  lines.push("", `goal (0 5xx / 0 crashes / 0 hangs / well-formed answers and errors / only the runtime's own non-JSON errors): ${r.goalMet ? "met" : "NOT met"}`);
  return lines.join("\n");
}

/** The per-endpoint table. */
export function formatEndpoints(endpoints: Record<string, EndpointStats>): string {
  const cols = ["requests", "2xx", "4xx", "5xx", "streams", "blamed", "findings"] as const;
  const names = [...ENDPOINT_ORDER.filter((e) => endpoints[e]), ...Object.keys(endpoints).filter((e) => !ENDPOINT_ORDER.includes(e))];
  const row = (cells: (string | number)[]) => cells.map((c, i) => (i === 0 ? String(c).padEnd(12) : String(c).padStart(9))).join("");
  return [row(["endpoint", ...cols]), ...names.map((e) => row([e, ...cols.map((k) => endpoints[e]![k])]))].join("\n");
}

const ENDPOINT_ORDER: string[] = ["chat", "responses", "completions", "other"];
