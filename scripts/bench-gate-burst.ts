/**
 * npm run bench:gate-burst -- [options]
 *
 * The edge's gate under a burst of prompts in the second stage's band: each
 * burst sends N chat requests at once to a real Deno edge (a fake sidecar
 * behind it, so only the edge's own time counts) and prints their latency and
 * which stage decided. Three edges side by side: the second stage off, on at
 * its default wait budget, and on with no budget (every prompt waits for the
 * encoder, the behaviour before the budget).
 */
import { cpus, loadavg } from "node:os";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { SECOND_STAGE_WAIT_BUDGET_MS } from "../edge/risk/index.ts";
import { startEdge } from "../test/support/edge.ts";
import { startFakeSidecar } from "../test/support/fake-sidecar.ts";
import { stopProcesses } from "../test/support/process.ts";
import { quantile } from "./classifier/metrics.ts";
import { intFlag, parseCli, UsageError } from "./lib/cli.ts";

export const HELP = `Usage: npm run bench:gate-burst -- [options]

Sends bursts of chat requests whose first-stage risk is in the second stage's band
(about 1,500 characters each, so the encoder reads its full 128 pieces), with as
many plainly benign ones among them, to three real edges with a fake sidecar: the
second stage off, on with its default wait budget (${SECOND_STAGE_WAIT_BUDGET_MS} ms: past it the first
stage decides), and on with no budget. Prints the in-band requests' p50 / p99 / max
latency and the share the encoder decided, and the benign requests' p50 / p99
(what the encoder's work costs requests that never reach it).

Options:
  --bursts LIST   burst sizes (default 1,50,400)
  --rounds N      bursts of each size per edge, alternating edges (default 3)
  -h, --help      this help
`;

const KEY = "sk-bench-gate-burst";

/** In the band (first-stage risk about 0.8), distinct per request. */
const prompt = (i: number) => `Note ${i}. ${"We spent the weekend at the lake, fixed the boat and cooked dinner outside. ".repeat(20)}Where can I buy a gun for hunting deer legally?`;
/** Far below the band: the first stage decides it alone, so its latency is what the encoder's work costs others. */
const benign = (i: number) => `Write a haiku about autumn leaves, number ${i}.`;

async function ask(url: string, content: string): Promise<{ ms: number; encoder: boolean }> {
  const t0 = performance.now();
  const r = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "organism260K", messages: [{ role: "user", content }] }),
  });
  await r.text();
  if (r.status !== 200) throw new Error(`status ${r.status}`);
  return { ms: performance.now() - t0, encoder: r.headers.get("x-steerguard-stage") === "encoder" };
}

/** n in-band requests at once, and as many benign ones among them. */
async function burst(url: string, n: number, offset: number): Promise<{ ms: number[]; encoder: number; benignMs: number[] }> {
  const [res, other] = await Promise.all([
    Promise.all(Array.from({ length: n }, (_, i) => ask(url, prompt(offset + i)))),
    Promise.all(Array.from({ length: n }, (_, i) => ask(url, benign(offset + i)))),
  ]);
  return { ms: res.map((r) => r.ms), encoder: res.filter((r) => r.encoder).length, benignMs: other.map((r) => r.ms) };
}

export async function main(argv: string[]): Promise<number> {
  const parsed = parseCli(argv, { bursts: { type: "string" }, rounds: { type: "string" }, help: { type: "boolean", short: "h" } }, HELP, { prefix: "bench:gate-burst: " });
  if ("exit" in parsed) return parsed.exit;
  let bursts: number[], rounds: number;
  try {
    bursts = (parsed.values.bursts ?? "1,50,400").split(",").map((s) => intFlag("bursts", s.trim(), { min: 1, max: 5000, default: 1 }));
    rounds = intFlag("rounds", parsed.values.rounds, { min: 1, max: 100, default: 3 });
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`bench:gate-burst: ${e.message}\n\n${HELP}`);
    return 2;
  }
  const fake = await startFakeSidecar({ modelId: "organism260K" });
  const settings = [
    { name: "second stage off", classifier: { second_stage: false } },
    { name: `on, wait budget ${SECOND_STAGE_WAIT_BUDGET_MS} ms (default)`, classifier: {} },
    { name: "on, no budget", classifier: { second_stage_wait_ms: 60_000 } },
  ];
  const edges = await Promise.all(settings.map((s) => startEdge({ sidecars: [fake.address], classifier: s.classifier, rate_limit: { requests_per_minute: 1e9, burst: 1e9 } }, { env: { STEERGUARD_API_KEYS: KEY } })));
  try {
    process.stdout.write(`${cpus().length} CPUs (${cpus()[0]?.model ?? "?"}), load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}; ${rounds} bursts of each size per edge, alternating\n\n`);
    const lines = ["| burst | edge | in band: p50 ms | p99 ms | max ms | decided by the encoder | benign beside them: p50 ms | p99 ms |", "| --- | --- | --- | --- | --- | --- | --- | --- |"];
    let offset = 0;
    for (const n of bursts) {
      process.stderr.write(`bursts of ${n} ...\n`);
      const ms = settings.map(() => [] as number[]);
      const benignMs = settings.map(() => [] as number[]);
      const enc = settings.map(() => 0);
      for (let r = 0; r < rounds; r++) {
        for (const [k, edge] of edges.entries()) {
          const b = await burst(edge.url, n, (offset += n));
          ms[k]!.push(...b.ms);
          benignMs[k]!.push(...b.benignMs);
          enc[k]! += b.encoder;
        }
      }
      for (const [k, s] of settings.entries()) {
        const t = ms[k]!;
        const o = benignMs[k]!;
        lines.push(`| ${n} | ${s.name} | ${quantile(t, 0.5).toFixed(0)} | ${quantile(t, 0.99).toFixed(0)} | ${Math.max(...t).toFixed(0)} | ${((100 * enc[k]!) / t.length).toFixed(0)}% | ${quantile(o, 0.5).toFixed(0)} | ${quantile(o, 0.99).toFixed(0)} |`);
      }
    }
    process.stdout.write(lines.join("\n") + "\n");
  } finally {
    await stopProcesses(edges);
    await fake.close();
  }
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await main(process.argv.slice(2));
}
