/**
 * `npm run bench:build -- [options]`
 *
 * Shows the streamed build's memory bound: writes a synthetic sharded bf16
 * Llama checkpoint of about 6 GB (random weights, seeded; kept under
 * --dir for reruns), builds it with `build-model` as a child process at each
 * --weights precision, and prints build time, the child's peak RSS and the
 * bound the issue sets (largest shard + 1 GB).
 *
 * Figures go to stdout; progress to stderr.
 */
import { spawn } from "node:child_process";
import { cpSync, existsSync, readdirSync, rmSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { isWeightPrecision, WEIGHT_PRECISIONS, type WeightPrecision } from "../sidecar/model/quantize.ts";
import { writeSyntheticCheckpoint, type SyntheticSpec } from "../sidecar/model/synthetic-checkpoint.ts";
import { parseCli } from "./lib/cli.ts";
import { Progress } from "./lib/progress.ts";

const ROOT = resolve(import.meta.dirname, "..");
const TOKENIZER_FROM = resolve(ROOT, "../shared/models/stories260K-hf");
const GB = 1e9;

export const HELP = `Usage: npm run bench:build -- [options]

Makes a synthetic sharded bf16 Llama checkpoint (random weights: d_model 3072,
24/8 heads, MLP 8192, vocab 512, --layers layers; 30 layers = 6.0 GB), builds
it with build-model at each precision, and prints build time and peak RSS
against the streamed build's bound: largest shard + 1 GB.

  --dir DIR        where the checkpoint is made and kept for reruns, and the
                   builds go (deleted after each row) (default .cache/bench/synthetic)
  --layers N       transformer blocks (default 30: 6.0 GB of bf16)
  --shard-gb X     most GB per shard (default 2)
  --weights LIST   precisions to build, comma-separated (default fp16,int4)
  --remake         write the checkpoint again even if it is there
  --keep           keep the built models
  -h, --help       show this help
`;

interface Row {
  weights: string;
  seconds: number;
  peakRssGb: number;
  outputGb: number;
  external: boolean;
}

function dirBytes(dir: string): number {
  return readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
}

/** Runs build-model in a child process; resolves with its summary line's peak RSS and the wall time. */
function build(from: string, out: string, weights: WeightPrecision): Promise<{ seconds: number; peakMb: number; summary: string }> {
  const t0 = performance.now();
  const child = spawn(process.execPath, ["--import", "tsx", "scripts/build-model.ts", "--from", from, "--out", out, "--weights", weights], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
  let stdout = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  const stop = () => child.kill("SIGTERM");
  process.once("SIGINT", stop);
  return new Promise((done, fail) => {
    child.on("error", fail);
    child.on("exit", (code, signal) => {
      process.off("SIGINT", stop);
      const m = /peak RSS (\d+) MB/.exec(stdout);
      if (code !== 0 || !m) return fail(new Error(`build-model --weights ${weights} exited ${code ?? signal}: ${stdout.trim()}`));
      done({ seconds: (performance.now() - t0) / 1000, peakMb: Number(m[1]), summary: stdout.trim() });
    });
  });
}

export async function main(argv: string[]): Promise<number> {
  const parsed = parseCli(argv, {
    dir: { type: "string" },
    layers: { type: "string" },
    "shard-gb": { type: "string" },
    weights: { type: "string" },
    remake: { type: "boolean" },
    keep: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  }, HELP);
  if ("exit" in parsed) return parsed.exit;
  const v = parsed.values;
  const dir = resolve(v.dir ?? join(ROOT, ".cache/bench/synthetic"));
  const layers = Number(v.layers ?? 30);
  const shardGb = Number(v["shard-gb"] ?? 2);
  const weights = (v.weights ?? "fp16,int4").split(",").map((s) => s.trim());
  const bad = weights.find((w) => !isWeightPrecision(w));
  if (!Number.isInteger(layers) || layers < 1 || !(shardGb > 0) || bad !== undefined) {
    process.stderr.write(`bench:build: bad flags (--layers a positive integer, --shard-gb > 0, --weights from ${WEIGHT_PRECISIONS.join(", ")})\n\n${HELP}`);
    return 2;
  }
  const spec: SyntheticSpec = { dModel: 3072, nLayers: layers, nHeads: 24, nKvHeads: 8, hiddenDim: 8192, vocabSize: 512, dtype: "BF16", shardBytes: shardGb * GB };
  const ckpt = join(dir, `llama-${layers}L-bf16`);
  if (v.remake || !existsSync(join(ckpt, "model.safetensors.index.json"))) {
    rmSync(ckpt, { recursive: true, force: true });
    let bar: Progress | undefined;
    writeSyntheticCheckpoint(ckpt, spec, (_d, total) => (bar ??= new Progress({ total, label: "writing checkpoint" })).tick());
    for (const f of ["tokenizer.json", "tokenizer_config.json"]) cpSync(join(TOKENIZER_FROM, f), join(ckpt, f));
  }
  const shards = readdirSync(ckpt).filter((f) => f.endsWith(".safetensors")).map((f) => statSync(join(ckpt, f)).size);
  const total = shards.reduce((a, b) => a + b, 0);
  const largest = Math.max(...shards);
  const bound = largest + GB;
  process.stdout.write(`checkpoint ${ckpt}: ${(total / GB).toFixed(2)} GB bf16 in ${shards.length} shards, largest ${(largest / GB).toFixed(2)} GB; bound = largest shard + 1 GB = ${(bound / GB).toFixed(2)} GB\n\n`);

  const rows: Row[] = [];
  for (const w of weights as WeightPrecision[]) {
    const out = join(dir, `built-${w}`);
    rmSync(out, { recursive: true, force: true });
    process.stderr.write(`building --weights ${w} ...\n`);
    const r = await build(ckpt, out, w);
    rows.push({ weights: w, seconds: r.seconds, peakRssGb: (r.peakMb * 2 ** 20) / GB, outputGb: dirBytes(out) / GB, external: existsSync(join(out, "model.onnx_data")) });
    if (!v.keep) rmSync(out, { recursive: true, force: true });
  }
  const lines = [
    "| weights | build time | peak RSS | bound | within | model size | external data |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...rows.map((r) => `| ${r.weights} | ${r.seconds.toFixed(0)} s | ${r.peakRssGb.toFixed(2)} GB | ${(bound / GB).toFixed(2)} GB | ${r.peakRssGb * GB <= bound ? "yes" : "NO"} | ${r.outputGb.toFixed(2)} GB | ${r.external ? "yes" : "no"} |`),
  ];
  process.stdout.write(lines.join("\n") + "\n");
  return rows.every((r) => r.peakRssGb * GB <= bound) ? 0 : 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await main(process.argv.slice(2));
}
