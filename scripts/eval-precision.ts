/**
 * `npm run eval:precision -- [options]`: model quality per weight precision
 * (perplexity of organism260K, archref logits vs transformers, fp16 greedy
 * text); the logic is in ./eval/precision.ts. Prints a table to stdout,
 * progress to stderr; exits 1 when a goal is missed, 2 on a bad command line.
 */
import { rmSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { DEFAULT_BLOCK_SIZE, isBlockSize, WEIGHT_PRECISIONS, type WeightPrecision } from "../sidecar/model/quantize.ts";
import { weightsList } from "./lib/weights-flag.ts";
import { intFlag, parseCli, UsageError } from "./lib/cli.ts";
import { Progress } from "./lib/progress.ts";
import {
  DEFAULT_ARCHREF_DIR, DEFAULT_ORGANISM, DEFAULT_STORIES, evalPrecision, GOLDEN_PROMPTS, PERPLEXITY_GOALS, renderPrecisionReport,
} from "./eval/precision.ts";

export const HELP = `Usage: npm run eval:precision -- [options]

Builds models at each weight precision and measures their quality against the
fp32 build (always built: it is the baseline):

 (a) perplexity of organism260K on its held-out stories (eval_stories.jsonl,
     token ids; every token after BOS scored); goals: |change vs fp32| within
     ${WEIGHT_PRECISIONS.filter((p) => p !== "fp32").map((p) => `${p} ${(100 * PERPLEXITY_GOALS[p]).toFixed(1)}%`).join(", ")}
 (b) each archref fixture: max |logit - transformers' reference logit| over
     all positions and the argmax agreement (reported, no goal)
 (c) greedy text through the engine on the engine's golden prompts
     (stories260K, as in sidecar/engine/engine.test.ts):
${GOLDEN_PROMPTS.map((p) => `       "${p.prompt}" (${p.maxTokens} tokens)`).join("\n")}
     identical to fp32's for fp16 (goal); where it first differs for the others

fp16 runs on onnxruntime's CPU provider through inserted casts (no CPU fp16
MatMul), i.e. float32 math on fp16-rounded weights and matmul inputs; CUDA
is its target.

  --weights LIST     comma-separated: fp32, fp16, int8, int4 (default all four)
  --block-size N     int8/int4 quantization block size (default ${DEFAULT_BLOCK_SIZE})
  --organism DIR     organism260K folder (default ${DEFAULT_ORGANISM})
  --stories DIR      stories260K folder, for (c) (default ${DEFAULT_STORIES})
  --archref DIR      archref fixtures (default ${DEFAULT_ARCHREF_DIR})
  --no-archref       skip (b)
  --no-golden        skip (c)
  --cache-dir DIR    keep the builds here and reuse them (default: a temporary
                     folder, removed at the end)
  --threads N        onnxruntime intra-op threads (default 1)
  -h, --help         show this help

Exit code: 0 when every goal is met, 1 when one is missed (or on an error), 2 on
a bad command line.
`;

const OPTIONS = {
  weights: { type: "string", default: WEIGHT_PRECISIONS.join(",") },
  "block-size": { type: "string" },
  organism: { type: "string", default: DEFAULT_ORGANISM },
  stories: { type: "string", default: DEFAULT_STORIES },
  archref: { type: "string", default: DEFAULT_ARCHREF_DIR },
  "no-archref": { type: "boolean", default: false },
  "no-golden": { type: "boolean", default: false },
  "cache-dir": { type: "string" },
  threads: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

export async function main(argv: string[]): Promise<number> {
  const parsed = parseCli(argv, OPTIONS, HELP, { prefix: "eval:precision: " });
  if ("exit" in parsed) return parsed.exit;
  const v = parsed.values;
  let weights: WeightPrecision[];
  let blockSize: number;
  let threads: number;
  try {
    weights = weightsList(v.weights);
    blockSize = intFlag("block-size", v["block-size"], { min: 16, default: DEFAULT_BLOCK_SIZE });
    if (!isBlockSize(blockSize)) throw new UsageError(`--block-size must be a power of two >= 16, got ${blockSize}`);
    threads = intFlag("threads", v.threads, { min: 1, default: 1 });
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`eval:precision: ${err.message}\n\n${HELP}`);
    return 2;
  }

  let bar: Progress | undefined;
  // Ctrl-C / SIGTERM: remove the temporary build folder before exiting (the
  // normal path removes it in evalPrecision).
  let tmp: string | null = null;
  const onSignal = (signal: NodeJS.Signals) => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    process.stderr.write(`\neval:precision: ${signal}\n`);
    process.exit(130);
  };
  process.once("SIGINT", onSignal).once("SIGTERM", onSignal);
  try {
    const result = await evalPrecision({
      weights,
      blockSize,
      organism: resolve(v.organism),
      stories: resolve(v.stories),
      archref: v["no-archref"] ? null : resolve(v.archref),
      golden: !v["no-golden"],
      cacheDir: v["cache-dir"] ? resolve(v["cache-dir"]) : undefined,
      threads,
      onTempDir: (dir) => void (tmp = dir),
      progress: (done, total, what) => {
        bar ??= new Progress({ total, label: "eval:precision" });
        bar.tick(1, what);
      },
    });
    process.stdout.write(renderPrecisionReport(result));
    return result.goals.every((g) => g.met) ? 0 : 1;
  } catch (err) {
    process.stderr.write(`eval:precision: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  } finally {
    process.off("SIGINT", onSignal).off("SIGTERM", onSignal);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await main(process.argv.slice(2));
}
