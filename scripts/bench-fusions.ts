/**
 * npm run bench:fusions — is onnxruntime's SkipSimplifiedLayerNormalization
 * faster here? (issue 18: fused operators "where onnxruntime provides them and
 * they are faster here"). Three graphs of one model, each in its own engine,
 * timed in turn within every round:
 *
 *   as built    the builder's graph; onnxruntime optimizes it at load ("all")
 *   optimized   the same graph optimized ahead by onnxruntime ("extended",
 *               saved): RMS norms become SimplifiedLayerNormalization
 *   skip-fused  that graph with every residual Add fused into the next norm
 *               (SkipSimplifiedLayerNormalization), as onnxruntime's
 *               transformer optimizer and the GenAI builder write it
 *               (sidecar/steering/fuse-skip-norm.ts)
 *
 * Prints decode tokens/s at batch 1 and B and prefill tokens/s (medians of
 * the rounds), and each graph against "optimized".
 */
import * as ort from "onnxruntime-node";
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { Engine } from "../sidecar/engine/engine.ts";
import { ATTENTION_KINDS } from "../sidecar/model/graph/llama-graph.ts";
import { readManifest } from "../sidecar/model/manifest.ts";
import { DEFAULT_BLOCK_SIZE } from "../sidecar/model/quantize.ts";
import { fuseSkipNorms } from "../sidecar/steering/fuse-skip-norm.ts";
import { readModelProto, writeModelProto } from "../sidecar/steering/surgery.ts";
import { median, MODELS, prepareModel, promptOf, table } from "./bench-engine.ts";
import { decodeRate, prefillRate } from "./bench-latency/measure.ts";
import { MODEL_FLAGS, MODEL_FLAGS_HELP, modelFlags, type ModelFlagValues } from "./lib/bench-flags.ts";
import { intFlag, parseCli, UsageError } from "./lib/cli.ts";

const HELP = `Usage: npm run bench:fusions -- [options]

Decode and prefill speed of one model's graph as built, optimized ahead by
onnxruntime ("extended"), and with its residual adds fused into
SkipSimplifiedLayerNormalization; each graph in its own engine, timed in turn
within every round; medians, and ratios to the ahead-optimized graph.

  --model NAME          ${MODELS.join(", ")} (default random-100m)
  --attention KIND      ${ATTENTION_KINDS.join(", ")} (default gqa, the CPU default)
  --rounds N            rounds (default 4)
  --batch B             requests of the batched decode run (default 8)
  --new-tokens N        tokens per decode request (default 48)
  --prefill-tokens N    prompt length for prefill tokens/s (default 512)
${MODEL_FLAGS_HELP}`;

interface Options extends ModelFlagValues {
  rounds: number;
  batch: number;
  newTokens: number;
  prefillTokens: number;
}

function parse(argv: string[]): Options | { exit: number } {
  const parsed = parseCli(argv, {
    ...MODEL_FLAGS,
    rounds: { type: "string" },
    batch: { type: "string" },
    "new-tokens": { type: "string" },
    "prefill-tokens": { type: "string" },
  }, HELP, { prefix: "bench-fusions: " });
  if ("exit" in parsed) return parsed;
  const v = parsed.values;
  return {
    ...modelFlags(v),
    rounds: intFlag("rounds", v.rounds, { min: 1, default: 4 }),
    batch: intFlag("batch", v.batch, { min: 2, default: 8 }),
    newTokens: intFlag("new-tokens", v["new-tokens"], { min: 2, default: 48 }),
    prefillTokens: intFlag("prefill-tokens", v["prefill-tokens"], { min: 2, default: 512 }),
  };
}

const log = (msg: string) => process.stderr.write(`bench-fusions: ${msg}\n`);

/** The file each variant folder records its source graph by: rebuilt when the graph was (size and mtime). */
const SOURCE_STAMP = "source.txt";

/**
 * The "optimized" and "skip-fused" model folders beside `dir` (made once per
 * build of `dir`'s graph): the manifest and tokenizer copied, the graph
 * rewritten. Returns [optimized, fused].
 */
async function variants(dir: string): Promise<[string, string]> {
  const out = [`${dir}-ort-extended`, `${dir}-skip-fused`] as const;
  const manifest = readManifest(dir);
  const source = statSync(join(dir, manifest.graph.file));
  const stamp = `${source.size} ${source.mtimeMs}`;
  const current = (d: string) => existsSync(join(d, "model.onnx")) && existsSync(join(d, SOURCE_STAMP)) && readFileSync(join(d, SOURCE_STAMP), "utf8") === stamp;
  if (out.every(current)) return [...out];
  if (manifest.graph.externalData) throw new UsageError(`${dir}: a graph with external data is not supported here`);
  for (const d of out) {
    rmSync(d, { recursive: true, force: true });
    mkdirSync(d, { recursive: true });
    for (const f of ["manifest.json", ...manifest.tokenizer.files]) copyFileSync(join(dir, f), join(d, f));
  }
  log(`optimizing ${dir} with onnxruntime ("extended") -> ${out[0]}`);
  const s = await ort.InferenceSession.create(join(dir, manifest.graph.file), { graphOptimizationLevel: "extended", optimizedModelFilePath: join(out[0], "model.onnx") });
  await s.release();
  const model = readModelProto(join(out[0], "model.onnx"));
  log(`fused ${fuseSkipNorms(model, "optimizer")} residual adds into SkipSimplifiedLayerNormalization -> ${out[1]}`);
  writeModelProto(model, join(out[1], "model.onnx"), out[0]);
  for (const d of out) writeFileSync(join(d, SOURCE_STAMP), stamp);
  return [...out];
}

async function bench(o: Options): Promise<number> {
  const built = await prepareModel(o.model, "fp32", { stories: o.stories, cacheDir: o.cacheDir, blockSize: DEFAULT_BLOCK_SIZE, accuracyLevel: undefined, seed: 1, attention: o.attention });
  const [optimized, fused] = await variants(built.dir);
  const graphs = [
    { name: "as built", dir: built.dir },
    { name: "optimized", dir: optimized },
    { name: "skip-fused", dir: fused },
  ];
  const engines = await Promise.all(graphs.map((g) => Engine.load(g.dir, { maxBatch: o.batch })));
  try {
    const prefill = promptOf(engines[0]!, o.prefillTokens, 3).text;
    const decode = Array.from({ length: o.batch }, (_, i) => promptOf(engines[0]!, 32, 20 + i).text);
    const figures = graphs.map(() => ({ b1: [] as number[], bB: [] as number[], prefill: [] as number[] }));
    for (const e of engines) await decodeRate(e, [decode[0]!], 4); // warm-up
    for (let r = 0; r < o.rounds; r++) {
      for (const [i, e] of engines.entries()) {
        log(`round ${r + 1}/${o.rounds}: ${graphs[i]!.name}`);
        figures[i]!.b1.push(await decodeRate(e, [decode[0]!], o.newTokens));
        figures[i]!.bB.push(await decodeRate(e, decode, o.newTokens));
        figures[i]!.prefill.push((await prefillRate(e, prefill)).tps);
      }
    }
    const med = figures.map((f) => ({ b1: median(f.b1), bB: median(f.bB), prefill: median(f.prefill) }));
    const ref = med[1]!;
    const cell = (v: number, base: number) => `${v.toFixed(1)} (${(v / base).toFixed(2)}x)`;
    process.stdout.write(
      `bench:fusions: ${o.model} (fp32, attention ${o.attention}), onnxruntime-node ${ort.env.versions.common} CPU, ${cpus().length} CPUs, load average ${loadavg()[0]!.toFixed(2)}; medians of ${o.rounds} rounds, graphs in turn within each; (x) = against "optimized"\n\n` +
        table(
          ["graph", "decode b1 tok/s", `decode b${o.batch} tok/s`, `prefill ${o.prefillTokens} tok/s`],
          graphs.map((g, i) => [g.name, cell(med[i]!.b1, ref.b1), cell(med[i]!.bB, ref.bB), cell(med[i]!.prefill, ref.prefill)]),
          1,
        ),
    );
    return 0;
  } finally {
    for (const e of engines) await e.close();
  }
}

export async function main(argv: string[]): Promise<number> {
  try {
    const opts = parse(argv);
    return "exit" in opts ? opts.exit : await bench(opts);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`bench-fusions: ${err.message}\n\n${HELP}`);
    return 2;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await main(process.argv.slice(2));
}
