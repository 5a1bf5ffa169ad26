/**
 * npm run --silent classify -- --input FILE.jsonl [--artifact FILE] [--output FILE]
 *
 * Reads JSON lines with a `prompt` string or an OpenAI-style `messages` array and
 * writes one JSON line per input line, in order: the edge's gate decision with
 * every stage that is on by default (edge/risk loadRiskScorer + assess; a
 * prompt is one user turn), and the stage that decided:
 *   {"risk": <0..1>, "risky": <bool at the shipped threshold>, "stage": "classifier" | "encoder"}
 * A line that cannot be scored gives {"error": "...", "line": N} instead; the
 * run goes on. Blank lines are answered with an error too, so output line N
 * always answers input line N. Exit status: 0 when the input was read to the
 * end (per-line errors are in the output), 1 on a usage or I/O failure.
 */
import { createReadStream, createWriteStream } from "node:fs";
import { resolve } from "node:path";
import { createInterface } from "node:readline";
import { loadRiskScorer } from "../../edge/risk/index.ts";
import { parseCli, requireFlags } from "../lib/cli.ts";
import { parseLine } from "./classify-lib.ts";
import { DEFAULT_ARTIFACT, REPO_ROOT } from "./paths.ts";

const HELP = `Usage: npm run --silent classify -- --input FILE.jsonl [options]

Scores prompts as the edge does, with every classifier stage that is on by
default: the first stage (n-grams + word vectors), and for a first-stage risk in
its uncertain band the sentence-encoder probe (the edge's config
classifier.second_stage, on by default). Each input line is a JSON object
with "prompt" (a string, scored as one user turn) or "messages" (OpenAI chat
format: [{role, content}]); each output line is
{"risk": 0..1, "risky": bool, "stage": "classifier" | "encoder"} (the stage that
decided) or {"error": "...", "line": N}.

Options:
  --input FILE      JSONL input ("-" = stdin; required)
  --output FILE     JSONL output (default: stdout)
  --artifact FILE   first-stage artifact (default: edge/classifier/risk-model.v2.json)
  --probe FILE      second-stage artifact (default: edge/classifier/encoder-probe.v1.json)
  --first-stage-only  the first stage alone, as the edge runs with classifier.second_stage: false
  --second-stage    both stages (the default; kept for scripts written when it was not)
  -h, --help        this help
`;

async function main(): Promise<number> {
  const parsed = parseCli(undefined, {
    input: { type: "string" },
    output: { type: "string" },
    artifact: { type: "string", default: DEFAULT_ARTIFACT },
    probe: { type: "string" },
    "second-stage": { type: "boolean", default: false },
    "first-stage-only": { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  }, HELP, { errorExit: 1 });
  if ("exit" in parsed) return parsed.exit;
  const { values } = parsed;
  if (!requireFlags(values, ["input"], HELP)) return 1;
  const scorer = await loadRiskScorer({
    artifact: resolve(REPO_ROOT, values.artifact!),
    secondStage: !values["first-stage-only"] && { probe: values.probe && resolve(process.env.INIT_CWD ?? process.cwd(), values.probe) },
    warn: (m) => process.stderr.write(`classify: ${m}\n`),
  });
  if (scorer.source === "keyword-fallback") return 1;
  // Relative paths are relative to where the user ran `npm run` (npm sets INIT_CWD).
  const cwd = process.env.INIT_CWD ?? process.cwd();
  const input = values.input === "-" ? process.stdin : createReadStream(resolve(cwd, values.input));
  const out = values.output ? createWriteStream(resolve(cwd, values.output)) : process.stdout;
  await new Promise<void>((ok, fail) => {
    if (input === process.stdin) return ok();
    input.once("open", () => ok());
    input.once("error", fail);
  });
  const rl = createInterface({ input, crlfDelay: Infinity });
  let lineNo = 0;
  let errors = 0;
  const write = (s: string) => (out.write(s) ? Promise.resolve() : new Promise<void>((r) => out.once("drain", () => r())));
  for await (const line of rl) {
    lineNo++;
    const parsed = parseLine(line);
    let result: unknown;
    if ("error" in parsed) {
      errors++;
      result = { error: parsed.error, line: lineNo };
    } else {
      try {
        const r = await scorer.assess("prompt" in parsed ? [{ role: "user", content: parsed.prompt }] : parsed.messages);
        result = { risk: Math.round(r.risk * 1e6) / 1e6, risky: r.risky, stage: r.stage };
      } catch (e) {
        errors++;
        result = { error: `scoring failed: ${e instanceof Error ? e.message : String(e)}`, line: lineNo };
      }
    }
    await write(JSON.stringify(result) + "\n");
  }
  if (out !== process.stdout) await new Promise<void>((r) => (out as NodeJS.WritableStream).end(() => r()));
  if (errors > 0) process.stderr.write(`classify: ${errors} of ${lineNo} lines had errors (see their output lines)\n`);
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
