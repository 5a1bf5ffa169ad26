/**
 * `npm run chaos`: the resilience suite of issue 14. Starts the real service
 * (npm start: the sidecar on ../shared/models/organism260K, built into the
 * run's temporary directory, and the edge under Deno), runs each fault of the
 * issue and the extra ones as cases (scripts/chaos/cases/) with traffic spread
 * over the three endpoints and the four routes, and prints a table:
 * requests, failures, hangs, events lost, recovery time, shed rate, and the
 * same per endpoint. Exits 1 if a goal is missed. Everything it starts is stopped on exit, Ctrl-C
 * included, and nothing is left in TMPDIR.
 */
import { writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { parseCli, UsageError } from "./lib/cli.ts";
import { CASES } from "./chaos/cases/index.ts";
import { runChaos } from "./chaos/runner.ts";
import { report } from "./chaos/table.ts";

const HELP = `Usage: npm run chaos -- [options]

Starts the real service (npm start: the sidecar on ../shared/models/organism260K and
the edge under Deno, with short deadlines, an events file, an A/B arm with a
condition band and a block threshold, and a fake upstream as the fallback of safe
chat requests) and runs resilience cases against it, their requests spread over
POST /v1/chat/completions, /v1/responses and /v1/completions, streamed and not
(seeded), and over the four routes (unsteered, conditional, steered, blocked);
prints a table (requests, failures, hangs, events lost, recovery time, shed rate)
and one per endpoint, and exits 1 if any goal is missed, 130 when interrupted.

Options:
  --quick          a short run (under a minute): fewer requests, 2 s load levels
  --seed N         seeds the spread over endpoints and streaming (default 1)
  --cases a,b      run only these cases (in the order below)
  --out FILE       write the results as JSON
  --verbose        echo everything the services print
  -h, --help       show this help

Cases:
${CASES.map((c) => `  ${c.name.padEnd(20)} ${c.fault ? `(${c.fault}) ` : ""}${c.summary}`).join("\n")}

Faults (#N) are those of issue 14. A case's goals: every request behaves as
expected (e.g. a stream ends with its end or an error event, a shed request has
retry-after, while the sidecar is away a steered, conditional or blocked prompt
gets the refusal and never the upstream), takes the route the shipped classifier
gives it, and is answered in its endpoint's wire format (the checks of
scripts/fuzz-edge/answer.ts: chat and completions chunks ending in [DONE] or an
error frame, the Responses event sequence ending in response.completed,
response.incomplete or an error event, OpenAI error bodies); no request outlives
its deadline plus a margin (a hang); every request that reached routing has one
decision event, which agrees with the answer (status, endpoint, route, backend);
and the case's own checks (recovery within 5 s of the sidecar being back,
/readyz, processes gone, ...).
`;

async function main(): Promise<number> {
  const parsed = parseCli(
    undefined,
    {
      quick: { type: "boolean" },
      seed: { type: "string" },
      cases: { type: "string" },
      out: { type: "string" },
      verbose: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    HELP,
    { prefix: "chaos: " },
  );
  if ("exit" in parsed) return parsed.exit;
  const { values } = parsed;
  const cases = values.cases?.split(",").map((s) => s.trim()).filter(Boolean);
  const unknown = cases?.filter((n) => !CASES.some((c) => c.name === n)) ?? [];
  if (cases && (!cases.length || unknown.length)) throw new UsageError(`--cases: unknown case(s) ${unknown.join(", ") || "(none given)"}; known: ${CASES.map((c) => c.name).join(", ")}`);

  const seed = values.seed === undefined ? 1 : Number(values.seed);
  if (!Number.isSafeInteger(seed) || seed < 0) throw new UsageError(`--seed: a non-negative integer, not ${values.seed}`);

  const ctl = new AbortController();
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    if (++signals === 1) {
      process.stderr.write(`\nchaos: ${sig}: stopping the service and cleaning up (again to force)\n`);
      ctl.abort();
    } else process.exit(130); // the runner's 'exit' hook kills what is left and removes the run directory
  };
  for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(s, onSignal);

  const log = (line: string) => process.stderr.write(`${line}\n`);
  log(`chaos: ${values.quick ? "quick run" : "full run"}, seed ${seed}; load average ${loadavg().map((x) => x.toFixed(2)).join(" ")} on ${cpus().length} cores`);
  const result = await runChaos({
    cases,
    quick: values.quick,
    seed,
    log,
    echo: values.verbose ? (l) => process.stderr.write(`  | ${l}\n`) : undefined,
    signal: ctl.signal,
  });
  process.stdout.write(`\n${report(result)}`);
  if (values.out) {
    writeFileSync(values.out, JSON.stringify({ ...result, machine: { cores: cpus().length, loadavg: loadavg(), node: process.version } }, null, 2) + "\n");
    log(`chaos: results written to ${values.out}`);
  }
  if (result.interrupted) return 130;
  return result.pass ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    if (err instanceof UsageError) {
      process.stderr.write(`chaos: ${err.message}\n\n${HELP}`);
      process.exit(2);
    }
    process.stderr.write(`chaos: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  },
);
