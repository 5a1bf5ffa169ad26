/**
 * `npm run fuzz:edge`: malformed requests against the real edge, over real
 * sockets, seeded. The generators are in fuzz-edge/cases.ts, the verdicts in
 * fuzz-edge/oracle.ts; this file is the command line.
 */
import { parseArgs } from "node:util";
import { formatTable, runFuzz, type FuzzResult } from "./fuzz-edge/run.ts";
import { startTarget, type Target } from "./fuzz-edge/target.ts";

const HELP = `fuzz:edge: malformed requests against the real edge

Usage: npm run fuzz:edge -- [options]

Starts the edge under Deno (with the permissions of every launcher,
edge/permissions.ts) in front of a fake gRPC sidecar, sends generated
requests, each to one of /v1/chat/completions, /v1/responses and
/v1/completions (seeded), with mutations of each wire format's own
parameters (responses: input strings and items, instructions,
max_output_tokens, include, text.format, tools, previous_response_id,
store; completions: prompt strings, arrays and token ids, max_tokens,
logprobs, echo, suffix, best_of, n) and generic hostile bodies (wrong
types, sizes past the limits, invalid UTF-8, lone surrogates, NUL, BOMs,
content-types, missing / duplicate / huge headers, chunked and truncated
bodies, deep nesting, numbers out of range, malformed HTTP framing), fetch
for well-framed ones and raw node:net writes for the rest. Prints a table:
requests, 5xx, crashes, hangs, non-JSON error bodies (from the edge, and
from the runtime's own HTTP parser), 2xx bodies or SSE streams not in their
endpoint's format, errors without error.type / error.param or whose param
does not name the field at fault, and 2xx answers whose routing headers are
wrong (an unknown x-steerguard-route; on the conditional route, an
x-steerguard-condition that does not agree with its value and threshold);
the routes of the 2xx answers (the target config has a condition band, so
some take the conditional route); then the same per endpoint. Exits 1 when
the goal (none of those but the runtime's own errors) is not met.

Options:
  --seed N          seed (default 1); the same seed sends the same requests
  --count N         requests (default 1000)
  --only I,J,...    send only these case indices (reproduce a finding)
  --concurrency N   requests in flight (default 8)
  --deadline-ms MS  no answer within MS is a hang (default 5000; the edge's
                    body deadline is 1000)
  --show N          list up to N cases judged other than "answered" (default 20)
  --json            print the result as JSON instead of the table
  -h, --help        this help
`;

function int(name: string, text: string | undefined, min: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) {
    process.stderr.write(`fuzz:edge: --${name} must be an integer >= ${min}, got "${text}"\n`);
    process.exit(2);
  }
  return n;
}

function progress(done: number, total: number): void {
  if (process.stderr.isTTY) process.stderr.write(`\rfuzz: ${done}/${total}`);
  else if (done % Math.max(1, Math.floor(total / 10)) === 0 || done === total) process.stderr.write(`fuzz: ${done}/${total}\n`);
  if (process.stderr.isTTY && done === total) process.stderr.write("\n");
}

function report(r: FuzzResult, show: number): string {
  const lines = [formatTable(r)];
  const listed = r.findings.slice(0, show);
  if (listed.length > 0) {
    lines.push("", `cases not answered by the edge (first ${listed.length} of ${r.findings.length}; --only INDEX resends one):`);
    for (const f of listed) lines.push(`  #${f.index} ${f.family}: ${f.name} -> ${f.verdict}${f.status ? ` ${f.status}` : ""} (${f.detail.slice(0, 120)})`);
  }
  return lines.join("\n");
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        seed: { type: "string", default: "1" },
        count: { type: "string", default: "1000" },
        only: { type: "string" },
        concurrency: { type: "string", default: "8" },
        "deadline-ms": { type: "string", default: "5000" },
        show: { type: "string", default: "20" },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`fuzz:edge: ${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const seed = int("seed", values.seed, 0);
  const count = int("count", values.count, 1);
  const only = values.only?.split(",").map((s) => int("only", s.trim(), 0));
  let target: Target | undefined;
  try {
    target = await startTarget();
    process.stderr.write(`fuzz: edge at ${target.url.origin}, seed ${seed}, ${only ? `cases ${only.join(",")}` : `${count} requests`}\n`);
    const result = await runFuzz({
      seed,
      count,
      only,
      concurrency: int("concurrency", values.concurrency, 1),
      deadlineMs: int("deadline-ms", values["deadline-ms"], 1),
      base: target.url,
      ctx: { host: target.url.host, key: target.key, maxBodyBytes: target.maxBodyBytes },
      alive: target.alive,
      onProgress: values.json ? undefined : progress,
    });
    if (result.crashes > 0) process.stderr.write(`fuzz: the edge exited; its output:\n${target.output().slice(-4000)}\n`);
    process.stdout.write(values.json ? JSON.stringify(result, null, 2) + "\n" : report(result, int("show", values.show, 0)) + "\n");
    return result.goalMet ? 0 : 1;
  } finally {
    await target?.stop();
  }
}

process.exit(await main());
