/**
 * `npm run bench:engine -- [options]`
 *
 * Measures the generation engine (Engine.load + engine.generate, the same
 * path gRPC requests take: tokenizer, scheduler, onnxruntime session) and, on
 * the very same model.onnx, @huggingface/transformers' generate() loop, and
 * prints them side by side: prefill tokens/s, time to first token, decode
 * tokens/s at batch 1 and aggregate at batch B, and decode as a fraction of
 * the memory-bandwidth limit (weight bytes read per token vs a measured copy
 * bandwidth). Runs of the runners are interleaved and each number is a
 * median over --repeats rounds, so the ratios come from one run on one
 * (noisy) machine. An "engine +spin" row runs the engine with onnxruntime's
 * default intra-op spinning (the engine's own default is off), i.e. with the
 * same session options as transformers.js.
 *
 * Precisions: `--weights fp32,fp16,int8,int4` builds each model at each
 * listed weight precision (sidecar/model/quantize.ts) and times them all in
 * the same interleaved rounds: rows "engine fp32", "engine int4", ..., and
 * speedups vs fp32 as medians of ratios of runs taken back to back. "weights/tok"
 * is the bytes of weights one decode step reads: the model files' size minus
 * the embedding table (its Gather reads one row), the table counted once more
 * where a tied fp32/fp16 head reads it.
 *
 * Models:
 * - stories260K: built from the llama2.c checkpoint (cached under --cache-dir).
 * - random-100m: seeded random Llama weights (d_model 768, 12 layers, 12 heads,
 *   4 kv heads, hidden 2048, vocab 32000, tied embeddings: ~100M parameters).
 *   Its tokenizer is stories' tok512.bin padded to 32000 entries with
 *   placeholder pieces (`<r512>`, ...) that no merge can produce: prompts
 *   encode exactly as with tok512, and every id the model emits decodes.
 * - random-300m: the same with d_model 1024, 24 layers, 16/4 heads, hidden
 *   2816 (~300M parameters), where the output head is a smaller share.
 * - tiny: a few-thousand-parameter random model (for the smoke test).
 * Generation is greedy and ignores end-of-sequence (the bench copies of the
 * manifests list no EOS ids), so every run produces exactly --new-tokens.
 *
 * Everything measured goes to stdout; progress goes to stderr.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { dirname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { Worker } from "node:worker_threads";
import { GenerateRequest, type GenerateChunk } from "../proto/gen/steerguard/v1/sidecar.ts";
import { Engine } from "../sidecar/engine/engine.ts";
import { buildModel, isBuildCurrent, MODEL_FILE } from "../sidecar/model/build.ts";
import { buildLlamaGraph, type AttentionKind } from "../sidecar/model/graph/llama-graph.ts";
import { OPSET, writeModel } from "../sidecar/model/graph/write-model.ts";
import { BUILDER_VERSION, MANIFEST_FORMAT, readManifest, writeManifest, type Manifest } from "../sidecar/model/manifest.ts";
import { linearWeightsPerLayer } from "../sidecar/model/flops.ts";
import { randomLlama } from "../sidecar/model/random-model.ts";
import { DEFAULT_BLOCK_SIZE, isBlockSize, QUANT_BITS, type WeightPrecision } from "../sidecar/model/quantize.ts";
import { UsageError } from "./lib/cli.ts";
import { weightsList } from "./lib/weights-flag.ts";
import type { LlamaConfig } from "../sidecar/model/weights.ts";
import { residPost } from "../sidecar/model/graph/names.ts";
import { main as benchSteering } from "./bench-steering.ts";

const ROOT = resolve(import.meta.dirname, "..");
export const DEFAULT_STORIES = resolve(ROOT, "../shared/models/stories260K");
const DEFAULT_CACHE = join(ROOT, ".cache/bench");

const RANDOM_100M: LlamaConfig = {
  vocabSize: 32000, dModel: 768, nLayers: 12, nHeads: 12, nKvHeads: 4, headDim: 64, hiddenDim: 2048,
  contextLength: 2048, ropeTheta: 10000, rmsNormEps: 1e-5, rotary: "half", tiedEmbeddings: true, qkvBias: false,
};
/** The same shape, bigger: d_model 1024, 24 layers, 16 heads / 4 kv, MLP 2816, tied: ~300M parameters (1.2 GB fp32). */
const RANDOM_300M: LlamaConfig = { ...RANDOM_100M, dModel: 1024, nLayers: 24, nHeads: 16, nKvHeads: 4, headDim: 64, hiddenDim: 2816 };
const TINY: LlamaConfig = {
  vocabSize: 600, dModel: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 8, hiddenDim: 64,
  contextLength: 256, ropeTheta: 10000, rmsNormEps: 1e-5, rotary: "half", tiedEmbeddings: false, qkvBias: false,
};
export const MODELS = ["stories260K", "random-100m", "random-300m", "tiny"] as const;
export type ModelName = (typeof MODELS)[number];

export const HELP = `Usage: npm run bench:engine -- [options]

Benchmarks the sidecar engine against @huggingface/transformers on the same
model.onnx: prefill tokens/s, time to first token, decode tokens/s at batch 1
and aggregate at batch B, and decode vs the memory-bandwidth limit; with
--weights, each model at each weight precision, with speedups vs fp32.

  --models LIST        comma-separated: stories260K, random-100m, random-300m, tiny
                       (default stories260K,random-100m)
  --prompt-tokens N    prompt length in tokens (default 128)
  --new-tokens N       tokens generated per request (default 32)
  --weights LIST       comma-separated weight precisions to build each model at:
                       fp32, fp16, int8, int4 (default fp32); with more than
                       one, rows are labelled "engine <precision>" and the
                       speedups vs fp32 (when listed) are printed
  --block-size N       int8/int4 quantization block size (default ${DEFAULT_BLOCK_SIZE})
  --accuracy-level N   int8/int4 MatMulNBits accuracy_level for random models
                       (0 = float32 math, 4 = int8 activations; default: the
                       builder's); stories260K always gets the builder's
  --batch B            concurrent requests for the batched run (default 8)
  --threads N          onnxruntime intra-op threads for both runners
                       (default 0 = onnxruntime's default)
  --repeats N          rounds of timed runs; medians are shown (default 5; the
                       batched run is timed in every other round)
  --min-ms N           repeat each timed run until N ms have passed, pooling the
                       tokens (default 1000; matters for tiny models)
  --no-spin-row        skip the "engine +spin" row (the engine with onnxruntime's
                       default of spin-waiting intra-op threads, batch 1 only)
  --no-transformers    skip @huggingface/transformers (it is tried on every
                       precision; a model it cannot load gets a row saying why)
  --no-steering        skip the steering-overhead section (bench:steering at batch 1:
                       no hook vs a 4-feature TopK clamp profile, same run;
                       on each model's first listed precision)
  --bandwidth-mb N     buffer size of the copy-bandwidth probe (default 256)
  --stories DIR        the stories260K llama2.c checkpoint folder
                       (default ${DEFAULT_STORIES})
  --cache-dir DIR      where built and random models are kept between runs
                       (default ${DEFAULT_CACHE})
  --seed S             seed of the random models' weights (default 1)
  -h, --help           show this help

Progress goes to stderr; the table to stdout.
`;

export interface BenchOptions {
  models: ModelName[];
  promptTokens: number;
  newTokens: number;
  batch: number;
  threads: number;
  repeats: number;
  weights: WeightPrecision[];
  blockSize: number;
  accuracyLevel: number | undefined;
  transformers: boolean;
  steering: boolean;
  spinRow: boolean;
  minMs: number;
  bandwidthMb: number;
  stories: string;
  cacheDir: string;
  seed: number;
}

function parse(argv: string[]): BenchOptions | "help" {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        models: { type: "string", default: "stories260K,random-100m" },
        "prompt-tokens": { type: "string", default: "128" },
        "new-tokens": { type: "string", default: "32" },
        batch: { type: "string", default: "8" },
        threads: { type: "string", default: "0" },
        repeats: { type: "string", default: "5" },
        weights: { type: "string", default: "fp32" },
        "block-size": { type: "string", default: String(DEFAULT_BLOCK_SIZE) },
        "accuracy-level": { type: "string" },
        "no-transformers": { type: "boolean", default: false },
        "no-steering": { type: "boolean", default: false },
        "no-spin-row": { type: "boolean", default: false },
        "min-ms": { type: "string", default: "1000" },
        "bandwidth-mb": { type: "string", default: "256" },
        stories: { type: "string", default: DEFAULT_STORIES },
        "cache-dir": { type: "string", default: DEFAULT_CACHE },
        seed: { type: "string", default: "1" },
        help: { type: "boolean", short: "h", default: false },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return "help";
  const int = (name: string, raw: string, min: number): number => {
    const n = Number(raw);
    if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}, got "${raw}"`);
    return n;
  };
  const models = values.models.split(",").map((m) => m.trim()).filter(Boolean);
  for (const m of models) {
    if (!(MODELS as readonly string[]).includes(m)) throw new UsageError(`unknown model "${m}" (known: ${MODELS.join(", ")})`);
  }
  if (models.length === 0) throw new UsageError("--models is empty");
  const weights = weightsList(values.weights);
  const blockSize = int("block-size", values["block-size"], 16);
  if (!isBlockSize(blockSize)) throw new UsageError(`--block-size must be a power of two >= 16, got ${blockSize}`);
  const accuracyLevel = values["accuracy-level"] === undefined ? undefined : int("accuracy-level", values["accuracy-level"], 0);
  if (accuracyLevel !== undefined && accuracyLevel > 4) throw new UsageError("--accuracy-level must be 0..4");
  return {
    models: models as ModelName[],
    promptTokens: int("prompt-tokens", values["prompt-tokens"], 2),
    newTokens: int("new-tokens", values["new-tokens"], 2),
    batch: int("batch", values.batch, 1),
    threads: int("threads", values.threads, 0),
    repeats: int("repeats", values.repeats, 1),
    weights: weights as WeightPrecision[],
    blockSize,
    accuracyLevel,
    transformers: !values["no-transformers"],
    steering: !values["no-steering"],
    spinRow: !values["no-spin-row"],
    minMs: int("min-ms", values["min-ms"], 0),
    bandwidthMb: int("bandwidth-mb", values["bandwidth-mb"], 1),
    stories: resolve(values.stories),
    cacheDir: resolve(values["cache-dir"]),
    seed: int("seed", values.seed, 0),
  };
}

const log = (msg: string) => process.stderr.write(`bench: ${msg}\n`);

// ---------------------------------------------------------------- models

export interface BenchModel {
  name: ModelName;
  /** Weight precision of this build. */
  precision: WeightPrecision;
  /** Folder name of this build under the cache (the model name, plus the precision below fp32). */
  key: string;
  dir: string;
  manifest: Manifest;
  params: number;
  /** Bytes of weights one decode step reads (every matrix once; one embedding row). */
  weightBytesPerToken: number;
}

function paramCount(d: Manifest["dims"], tied: boolean): number {
  const layer = linearWeightsPerLayer(d) + 2 * d.dModel; // and its two norm gains
  return d.vocabSize * d.dModel * (tied ? 1 : 2) + d.nLayers * layer + d.dModel;
}

/**
 * Bytes of weights one decode step reads, from the built files: everything
 * stored (linear weights, their scales and zero points, norms, the head)
 * except the embedding table, of which the Gather reads one row; a tied
 * fp32/fp16 head reads the table itself (graph/linear.ts outputHead), so
 * there it counts in full. The graph's own bytes (a few kB) are included.
 */
export function weightBytesPerToken(dir: string, m: Manifest): number {
  const files = [m.graph.file, ...(m.graph.externalData ? [m.graph.externalData] : [])];
  const stored = files.reduce((n, f) => n + statSync(join(dir, f)).size, 0);
  const precision = m.graph.precision.weights;
  const elem = precision === "fp32" ? 4 : 2; // the table is fp16 below fp32
  const table = m.dims.vocabSize * m.dims.dModel * elem;
  const headReadsTable = m.graph.tiedEmbeddings && !QUANT_BITS[precision];
  return stored - (headReadsTable ? 0 : table) + m.dims.dModel * elem;
}

/** Bench copies never stop at EOS: every request generates exactly max_tokens. */
function withoutEos(dir: string): Manifest {
  const m = readManifest(dir);
  if (m.tokenizer.eosIds.length > 0) {
    m.tokenizer.eosIds = [];
    writeManifest(dir, m);
  }
  return m;
}

/**
 * A llama2.c tokenizer file with `vocabSize` entries: tok512.bin's pieces,
 * then placeholder pieces `<rN>` (score -1e9; no merge of existing pieces
 * can form one, so encoding is unchanged).
 */
function paddedTokenizer(tok512: Uint8Array, vocabSize: number): Uint8Array {
  const view = new DataView(tok512.buffer, tok512.byteOffset, tok512.byteLength);
  let at = 4;
  let n = 0;
  while (at < tok512.byteLength && n < vocabSize) {
    at += 8 + view.getInt32(at + 4, true);
    n++;
  }
  const enc = new TextEncoder();
  const extra: Uint8Array[] = [];
  let maxLen = view.getInt32(0, true);
  for (let id = n; id < vocabSize; id++) {
    const piece = enc.encode(`<r${id}>`);
    maxLen = Math.max(maxLen, piece.length);
    const entry = new Uint8Array(8 + piece.length);
    const ev = new DataView(entry.buffer);
    ev.setFloat32(0, -1e9, true);
    ev.setInt32(4, piece.length, true);
    entry.set(piece, 8);
    extra.push(entry);
  }
  const total = at + extra.reduce((s, e) => s + e.length, 0);
  const out = new Uint8Array(total);
  out.set(tok512.subarray(0, at));
  new DataView(out.buffer).setInt32(0, maxLen, true);
  let o = at;
  for (const e of extra) {
    out.set(e, o);
    o += e.length;
  }
  return out;
}

/** A build's folder name under the cache: the model name, plus the precision below fp32. */
const buildKey = (name: ModelName, precision: WeightPrecision, attention: AttentionKind = "plain") =>
  `${precision === "fp32" ? name : `${name}-${precision}`}${attention === "plain" ? "" : `-${attention}`}`;

/** The manifest's precision record for a build at `precision`. */
const precisionRecord = (precision: WeightPrecision, blockSize: number): Manifest["graph"]["precision"] =>
  ({ weights: precision, blockSize: QUANT_BITS[precision] ? blockSize : null });

/** Random weights, generated once per run for all the precisions built from them. */
const randomWeights = new Map<string, ReturnType<typeof randomLlama>>();

/** Writes (or reuses) a model directory with seeded random weights stored at `precision`. */
function randomModelDir(name: ModelName, config: LlamaConfig, seed: number, precision: WeightPrecision, opts: ModelOptions): string {
  const tok512 = readFileSync(join(opts.stories, "tok512.bin"));
  const quantized = Boolean(QUANT_BITS[precision]);
  const attention = opts.attention ?? "plain";
  const build = { weights: precision, blockSize: quantized ? opts.blockSize : undefined, accuracyLevel: quantized ? opts.accuracyLevel : undefined };
  const key = createHash("sha256")
    .update(JSON.stringify({ config, seed, builder: BUILDER_VERSION, ...(precision === "fp32" ? {} : { build }), ...(attention === "plain" ? {} : { attention }) }))
    .update(tok512)
    .digest("hex");
  const dir = join(opts.cacheDir, buildKey(name, precision, attention));
  const keyFile = join(dir, "bench-key.txt");
  if (existsSync(keyFile) && readFileSync(keyFile, "utf8") === key && existsSync(join(dir, MODEL_FILE))) return dir;
  log(`${name}: ${precision} build of seeded random weights (seed ${seed}): writing ${dir} (cached for later runs)`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const wkey = JSON.stringify({ config, seed });
  if (!randomWeights.has(wkey)) randomWeights.set(wkey, randomLlama(config, seed));
  const graph = buildLlamaGraph(randomWeights.get(wkey)!, { ...build, attention });
  const written = writeModel(graph, join(dir, MODEL_FILE));
  const tokFile = `tok${config.vocabSize}.bin`;
  writeFileSync(join(dir, tokFile), paddedTokenizer(tok512, config.vocabSize));
  const c = config;
  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    builderVersion: BUILDER_VERSION,
    id: buildKey(name, precision, attention),
    architecture: "llama",
    source: { kind: "llama2c", path: `randomLlama(seed=${seed})`, sha256: {}, modelType: null },
    dims: {
      vocabSize: c.vocabSize, dModel: c.dModel, nLayers: c.nLayers, nHeads: c.nHeads, nKvHeads: c.nKvHeads,
      headDim: c.headDim, hiddenDim: c.hiddenDim, contextLength: c.contextLength, ropeTheta: c.ropeTheta, rmsNormEps: c.rmsNormEps,
    },
    graph: {
      file: MODEL_FILE, externalData: written.externalDataFile, opset: OPSET,
      sourceRotary: c.rotary, tiedEmbeddings: c.tiedEmbeddings, qkvBias: c.qkvBias, residualOutputs: false,
      precision: precisionRecord(precision, opts.blockSize),
      attention,
    },
    tokenizer: { kind: "llama2c", files: [tokFile], bosId: 1, eosId: 2, eosIds: [], addBos: true },
    chatTemplate: null,
    specialTokens: [],
    residualTensors: Array.from({ length: c.nLayers }, (_, l) => residPost(l)),
    hookedLayers: [],
  };
  writeManifest(dir, manifest);
  writeFileSync(keyFile, key);
  return dir;
}

/** The options a model build needs (bench:latency passes its own). */
export type ModelOptions = Pick<BenchOptions, "stories" | "cacheDir" | "blockSize" | "accuracyLevel" | "seed"> & {
  /** How attention is built (graph/llama-graph.ts; default plain). */
  attention?: AttentionKind;
};

/** Builds (or reuses from the cache) a bench model at one weight precision. */
export async function prepareModel(name: ModelName, precision: WeightPrecision, opts: ModelOptions): Promise<BenchModel> {
  let dir: string;
  const key = buildKey(name, precision, opts.attention);
  if (name === "stories260K") {
    dir = join(opts.cacheDir, key);
    const build = { weights: precision, blockSize: QUANT_BITS[precision] ? opts.blockSize : undefined, attention: opts.attention };
    if (!(await isBuildCurrent(opts.stories, dir, build))) {
      log(`stories260K: building ${opts.stories} -> ${dir} (${precision} weights)`);
      await buildModel({ from: opts.stories, out: dir, id: key, ...build });
    }
  } else {
    dir = randomModelDir(name, name === "tiny" ? TINY : name === "random-300m" ? RANDOM_300M : RANDOM_100M, opts.seed, precision, opts);
  }
  const manifest = withoutEos(dir);
  return {
    name,
    precision,
    key,
    dir,
    manifest,
    params: paramCount(manifest.dims, manifest.graph.tiedEmbeddings),
    weightBytesPerToken: weightBytesPerToken(dir, manifest),
  };
}

/**
 * The folder layout transformers.js loads from disk: config.json,
 * generation_config.json and onnx/model.onnx (a symlink to our export).
 * No tokenizer files: the bench feeds the engine's prompt token ids.
 */
function transformersDir(model: BenchModel, opts: BenchOptions): string {
  const d = model.manifest.dims;
  const dir = join(opts.cacheDir, "transformers.js", model.key);
  mkdirSync(join(dir, "onnx"), { recursive: true });
  const config = {
    model_type: "llama",
    architectures: ["LlamaForCausalLM"],
    hidden_size: d.dModel,
    intermediate_size: d.hiddenDim,
    num_hidden_layers: d.nLayers,
    num_attention_heads: d.nHeads,
    num_key_value_heads: d.nKvHeads,
    head_dim: d.headDim,
    vocab_size: d.vocabSize,
    max_position_embeddings: d.contextLength,
    rms_norm_eps: d.rmsNormEps,
    rope_theta: d.ropeTheta,
    tie_word_embeddings: model.manifest.graph.tiedEmbeddings,
    bos_token_id: model.manifest.tokenizer.bosId ?? 1,
    eos_token_id: model.manifest.tokenizer.eosId ?? 2,
    torch_dtype: "float32",
  };
  writeFileSync(join(dir, "config.json"), JSON.stringify(config, null, 2));
  writeFileSync(join(dir, "generation_config.json"), JSON.stringify({ bos_token_id: config.bos_token_id, eos_token_id: config.eos_token_id }, null, 2));
  const link = join(dir, "onnx", "model.onnx");
  rmSync(link, { force: true });
  symlinkSync(join(model.dir, MODEL_FILE), link);
  return dir;
}

// ---------------------------------------------------------------- prompts

const STORY =
  "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends. " +
  "One day, she saw a big red ball under a tree. She ran to the ball and picked it up. Then a small dog came and " +
  "wanted to play too. Lily threw the ball and the dog ran after it. They played all day until the sun went down. " +
  "Her mom called her home for dinner, and Lily was happy because she had made a new friend. The next morning, " +
  "she went back to the park to look for the dog. She looked behind the slide and under the bench, but the dog " +
  "was not there. Lily felt sad. Then she heard a bark. The dog was waiting by the gate with the red ball in its mouth.";

/** The longest prefix of the story (repeated as needed) that encodes to at most `n` tokens. */
export function promptOf(engine: Pick<Engine, "tokenizer">, n: number, shift: number): { text: string; ids: number[] } {
  const words = STORY.split(" ");
  const word = (i: number) => words[(i + shift) % words.length]!;
  let lo = 1;
  let hi = 1;
  const enc = (k: number) => engine.tokenizer.encode(Array.from({ length: k }, (_, i) => word(i)).join(" "));
  while (enc(hi).length <= n) hi *= 2;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (enc(mid).length <= n) lo = mid;
    else hi = mid;
  }
  const text = Array.from({ length: lo }, (_, i) => word(i)).join(" ");
  return { text, ids: enc(lo) };
}

// ---------------------------------------------------------------- engine runs

interface RunStats {
  promptTokens: number;
  ttftMs: number;
  /** Decode tokens/s (batch 1: one stream; batch B: all streams together). */
  decodeTps: number;
  /** Tokens the decode rate covers. */
  decodeTokens: number;
  tokens: number;
}

/**
 * Repeats `run` until `minMs` have passed (at least once) and pools the
 * results: decode tokens/s over all decode time, the median TTFT. Runs of a
 * tiny model take milliseconds, and one descheduling on a busy machine would
 * otherwise decide the number.
 */
async function pooled(minMs: number, run: () => Promise<RunStats>): Promise<RunStats> {
  const runs: RunStats[] = [];
  const t0 = performance.now();
  do runs.push(await run());
  while (performance.now() - t0 < minMs);
  const tokens = runs.reduce((s, r) => s + r.tokens, 0);
  const decodeTokens = runs.reduce((s, r) => s + (r.decodeTps > 0 ? r.decodeTokens : 0), 0);
  const decodeMs = runs.reduce((s, r) => s + (r.decodeTps > 0 ? (r.decodeTokens * 1000) / r.decodeTps : 0), 0);
  return {
    promptTokens: runs[0]!.promptTokens,
    ttftMs: median(runs.map((r) => r.ttftMs)),
    decodeTps: decodeMs > 0 ? (decodeTokens * 1000) / decodeMs : 0,
    decodeTokens,
    tokens,
  };
}

async function engineRun(engine: Engine, prompts: string[], newTokens: number): Promise<RunStats> {
  const one = async (prompt: string, i: number) => {
    const request = GenerateRequest.fromPartial({
      requestId: `bench-${i}`,
      input: { $case: "prompt", value: prompt },
      sampling: { maxTokens: newTokens, temperature: 0 },
    });
    let first = 0;
    let last = 0;
    let tokens = 0;
    let finish: GenerateChunk["finish"];
    for await (const chunk of engine.generate(request, new AbortController().signal)) {
      const now = performance.now();
      if (chunk.tokenIds.length > 0) {
        if (tokens === 0) first = now;
        tokens += chunk.tokenIds.length;
        last = now;
      }
      if (chunk.finish) finish = chunk.finish;
    }
    if (!finish?.usage) throw new Error("the engine's stream ended without usage");
    return { first, last, tokens, usage: finish.usage };
  };
  const rows = await Promise.all(prompts.map(one));
  const tokens = rows.reduce((s, r) => s + r.tokens, 0);
  if (rows.length === 1) {
    const u = rows[0]!.usage;
    return { promptTokens: u.promptTokens, ttftMs: u.timeToFirstTokenMs, decodeTps: u.decodeTokensPerSecond, decodeTokens: tokens - 1, tokens };
  }
  // Batched: rows are prefilled one by one, then decode in lockstep. The
  // aggregate rate covers the lockstep phase: from the last row's first token
  // to the last token of any row.
  const start = Math.max(...rows.map((r) => r.first));
  const end = Math.max(...rows.map((r) => r.last));
  const decoded = rows.reduce((s, r) => s + r.tokens - 1, 0);
  return {
    promptTokens: rows[0]!.usage.promptTokens,
    ttftMs: median(rows.map((r) => r.usage.timeToFirstTokenMs)),
    decodeTps: end > start ? (decoded * 1000) / (end - start) : 0,
    decodeTokens: decoded,
    tokens,
  };
}

// ---------------------------------------------------------------- transformers.js

interface HfRunner {
  run(ids: number[], newTokens: number): Promise<RunStats>;
  close(): Promise<void>;
}

async function loadTransformers(model: BenchModel, opts: BenchOptions): Promise<HfRunner> {
  const tf = await import("@huggingface/transformers");
  const dir = transformersDir(model, opts);
  tf.env.allowRemoteModels = false;
  tf.env.allowLocalModels = true;
  tf.env.localModelPath = dirname(dir);
  const session_options: Record<string, unknown> = {};
  if (opts.threads > 0) session_options.intraOpNumThreads = opts.threads;
  const hf = await tf.AutoModelForCausalLM.from_pretrained(model.key, {
    dtype: "fp32",
    device: "cpu",
    local_files_only: true,
    session_options,
  });
  return {
    async run(ids, newTokens) {
      const input_ids = new tf.Tensor("int64", BigInt64Array.from(ids, BigInt), [1, ids.length]);
      const attention_mask = new tf.Tensor("int64", new BigInt64Array(ids.length).fill(1n), [1, ids.length]);
      const stamps: number[] = [];
      // The first put() is the prompt; every later one is one generated token.
      const streamer = { put: () => void stamps.push(performance.now()), end: () => {} };
      const t0 = performance.now();
      await hf.generate({
        input_ids,
        attention_mask,
        max_new_tokens: newTokens,
        min_new_tokens: newTokens,
        do_sample: false,
        streamer,
      } as never);
      const times = stamps.slice(1);
      const first = times[0]!;
      const last = times[times.length - 1]!;
      return {
        promptTokens: ids.length,
        ttftMs: first - t0,
        decodeTps: times.length > 1 && last > first ? ((times.length - 1) * 1000) / (last - first) : 0,
        decodeTokens: times.length - 1,
        tokens: times.length,
      };
    },
    async close() {
      await hf.dispose();
    },
  };
}

// ---------------------------------------------------------------- bandwidth

/**
 * Copy bandwidth, STREAM-style (bytes read + bytes written per second): each
 * of `threads` workers copies its share of `mb` MB with Buffer.copy, all at
 * once; best of `reps`.
 */
async function copyBandwidth(mb: number, threads: number, reps = 5): Promise<number> {
  const bytes = Math.floor((mb * 1024 * 1024) / threads / 8) * 8;
  const code = `
    const { parentPort, workerData } = require("node:worker_threads");
    const src = Buffer.alloc(workerData.bytes, 1), dst = Buffer.alloc(workerData.bytes);
    src.copy(dst);
    const go = new Int32Array(workerData.sab);
    parentPort.postMessage(-1);
    for (let r = 1; r <= workerData.reps; r++) {
      Atomics.wait(go, 0, r - 1);
      const t0 = performance.now();
      src.copy(dst);
      parentPort.postMessage(performance.now() - t0);
    }`;
  const sab = new SharedArrayBuffer(4);
  const go = new Int32Array(sab);
  const workers = Array.from({ length: threads }, () => new Worker(code, { eval: true, workerData: { bytes, reps, sab } }));
  const queues = workers.map(() => [] as number[]);
  const waiting: (() => void)[] = [];
  workers.forEach((w, i) => w.on("message", (ms: number) => {
    queues[i]!.push(ms);
    waiting.splice(0).forEach((f) => f());
  }));
  const all = (n: number) => new Promise<void>((res) => {
    const check = () => (queues.every((q) => q.length >= n) ? res() : waiting.push(check));
    check();
  });
  try {
    await all(1); // ready
    let best = 0;
    for (let r = 1; r <= reps; r++) {
      Atomics.store(go, 0, r);
      Atomics.notify(go, 0);
      await all(r + 1);
      const slowest = Math.max(...queues.map((q) => q[r]!));
      best = Math.max(best, (2 * bytes * threads) / (slowest / 1000));
    }
    return best;
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

// ---------------------------------------------------------------- report

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

interface RunnerResult {
  runner: string;
  error?: string;
  prefillTps?: number;
  ttftMs?: number;
  decodeB1?: number;
  decodeBatch?: number;
  promptTokens?: number;
}

/** One build (model at one precision) and its runners' rows. */
interface VariantResult {
  model: BenchModel;
  /** Row labels: "engine" / "transformers.js", with the precision appended when several are benched or it is not fp32. */
  labels: { engine: string; spin: string; hf: string };
  rows: RunnerResult[];
  /**
   * Ratios of runs taken back to back in the same round, median over rounds
   * (steadier than a ratio of medians while the machine's load drifts).
   * b1VsFp32 / batchVsFp32: this build's engine vs the fp32 build's, same round.
   */
  paired: { batchVsB1?: number; engineVsHf?: number; spinVsHf?: number; b1VsFp32?: number; batchVsFp32?: number };
}

interface ModelResult {
  name: ModelName;
  variants: VariantResult[];
}

/** The issue's speed goals at batch 1 vs fp32, for random-100m (or larger). */
export const SPEEDUP_GOALS: Partial<Record<WeightPrecision, number>> = { int8: 1.7, int4: 3 };
const GOAL_MODELS: readonly ModelName[] = ["random-100m", "random-300m"];

const fmt = (x: number | undefined, digits = 1) =>
  x === undefined ? "-" : x >= 1000 ? Math.round(x).toString() : x.toFixed(x >= 100 ? 0 : digits);
const bytesFmt = (b: number) => (b >= 1e9 ? `${(b / 1e9).toFixed(2)} GB` : b >= 1e6 ? `${(b / 1e6).toFixed(1)} MB` : `${(b / 1e3).toFixed(1)} kB`);
const paramsFmt = (p: number) => (p >= 1e6 ? `${(p / 1e6).toFixed(p >= 1e7 ? 1 : 2)}M` : `${(p / 1e3).toFixed(1)}K`);

export function table(header: string[], rows: string[][], leftCols = 2): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < leftCols ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ").trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n") + "\n";
}

export function report(results: ModelResult[], opts: BenchOptions, bandwidth: number, env: string): string {
  const B = opts.batch;
  let out = `${env}\n`;
  out += `prompt ${opts.promptTokens} tokens, ${opts.newTokens} new tokens (greedy, EOS ignored), batch ${B}, ` +
    `medians of ${opts.repeats} round${opts.repeats > 1 ? "s" : ""} (batch ${B}: ${Math.ceil(opts.repeats / 2)}); ` +
    `copy bandwidth ${(bandwidth / 1e9).toFixed(1)} GB/s (read+write)\n\n`;
  const header = ["model", "runner", "params", "weights/tok", "prompt", "prefill tok/s", "TTFT ms", "decode b1 tok/s", `decode b${B} tok/s`, `b${B}/b1`, "b1 % BW limit"];
  const rows: string[][] = [];
  const notes: string[] = [];
  const variants = results.flatMap((r) => r.variants);
  for (const { model, rows: rs, paired } of variants) {
    const limit = bandwidth / model.weightBytesPerToken;
    for (const r of rs) {
      if (r.error) {
        notes.push(`${model.key} ${r.runner}: ${r.error}`);
        rows.push([model.name, r.runner, paramsFmt(model.params), bytesFmt(model.weightBytesPerToken), "-", "-", "-", "-", "-", "-", "cannot run (see below)"]);
        continue;
      }
      rows.push([
        model.name,
        r.runner,
        paramsFmt(model.params),
        bytesFmt(model.weightBytesPerToken),
        String(r.promptTokens ?? "-"),
        fmt(r.prefillTps),
        fmt(r.ttftMs, 2),
        fmt(r.decodeB1),
        fmt(r.decodeBatch),
        r.decodeBatch !== undefined && paired.batchVsB1 !== undefined ? `${paired.batchVsB1.toFixed(2)}x` : "-",
        r.decodeB1 !== undefined ? `${((100 * r.decodeB1) / limit).toFixed(1)}%` : "-",
      ]);
    }
    notes.push(`${model.key}: bandwidth limit ${fmt(limit)} tok/s at batch 1 (${(bandwidth / 1e9).toFixed(1)} GB/s / ${bytesFmt(model.weightBytesPerToken)} of weights per token)`);
  }
  out += table(header, rows);
  out += "\n" + notes.map((n) => `  ${n}`).join("\n") + "\n";

  const x = (r: number) => `${r.toFixed(2)}x`;
  const withFp32 = results.filter((r) => r.variants.some((v) => v.model.precision === "fp32") && r.variants.length > 1);
  if (withFp32.length) {
    out += `\nPrecision: decode speed vs fp32 (each ratio: median over rounds of runs in the same round)\n`;
    const prow: string[][] = [];
    for (const { variants: vs } of withFp32) {
      for (const v of vs) {
        const e = v.rows.find((r) => r.runner === v.labels.engine);
        prow.push([
          v.model.name,
          v.model.precision,
          v.model.manifest.graph.precision.blockSize ? String(v.model.manifest.graph.precision.blockSize) : "-",
          bytesFmt(v.model.weightBytesPerToken),
          fmt(e?.decodeB1),
          v.model.precision === "fp32" ? "1.00x" : v.paired.b1VsFp32 !== undefined ? x(v.paired.b1VsFp32) : "-",
          fmt(e?.decodeBatch),
          v.model.precision === "fp32" ? "1.00x" : v.paired.batchVsFp32 !== undefined ? x(v.paired.batchVsFp32) : "-",
          e?.decodeB1 !== undefined ? `${((100 * e.decodeB1 * v.model.weightBytesPerToken) / bandwidth).toFixed(1)}%` : "-",
        ]);
      }
    }
    out += table(["model", "weights", "block", "weights/tok", "decode b1 tok/s", "b1 vs fp32", `decode b${B} tok/s`, `b${B} vs fp32`, "b1 % BW limit"], prow, 2);
  }

  out += `\nGoals (ratios: median over rounds of runs taken back to back; b${B}/b1 above is the same)\n`;
  for (const { model, labels, rows: rs, paired } of variants) {
    const e = rs.find((r) => r.runner === labels.engine);
    const t = rs.find((r) => r.runner === labels.hf);
    if (!e?.decodeB1) continue;
    if (t && !t.error && paired.engineVsHf !== undefined) {
      const ok = paired.engineVsHf >= 1;
      out += `  [${ok ? "MET " : "MISS"}] ${model.key}: decode b1 ${labels.engine} >= ${labels.hf}: ${x(paired.engineVsHf)} ` +
        `(medians ${fmt(e.decodeB1)} vs ${fmt(t.decodeB1)} tok/s)\n`;
      if (paired.spinVsHf !== undefined) {
        out += `         ${labels.spin} (transformers.js's session options) vs ${labels.hf}: ${x(paired.spinVsHf)}\n`;
      }
    } else {
      out += `  [n/a ] ${model.key}: decode b1 ${labels.engine} >= ${labels.hf}: transformers.js ${t ? "could not run" : "skipped"}\n`;
    }
    if (paired.batchVsB1 !== undefined) {
      const ok = paired.batchVsB1 >= 3;
      out += `  [${ok ? "MET " : "MISS"}] ${model.key}: decode b${B} aggregate >= 3x b1: ${x(paired.batchVsB1)} ` +
        `(medians ${fmt(e.decodeBatch)} vs ${fmt(e.decodeB1)} tok/s)\n`;
    }
    const goal = SPEEDUP_GOALS[model.precision];
    if (goal !== undefined && paired.b1VsFp32 !== undefined) {
      const mark = GOAL_MODELS.includes(model.name) ? (paired.b1VsFp32 >= goal ? "MET " : "MISS") : "info";
      out += `  [${mark}] ${model.key}: decode b1 ${model.precision} >= ${goal}x fp32: ${x(paired.b1VsFp32)}` +
        `${mark === "info" ? ` (the goal is for ${GOAL_MODELS.join(", ")})` : ""}\n`;
    }
  }
  return out;
}

// ---------------------------------------------------------------- main

function rowFrom(runner: string, b1: RunStats[], batched?: RunStats[]): RunnerResult {
  return {
    runner,
    promptTokens: b1[0]!.promptTokens,
    ttftMs: median(b1.map((s) => s.ttftMs)),
    prefillTps: median(b1.map((s) => (s.promptTokens * 1000) / s.ttftMs)),
    decodeB1: median(b1.map((s) => s.decodeTps)),
    decodeBatch: batched && median(batched.map((s) => s.decodeTps)),
  };
}

/** The runners of one build, loaded, and their timed runs. */
interface Variant {
  model: BenchModel;
  labels: VariantResult["labels"];
  engine: Engine;
  spin?: Engine;
  hf?: HfRunner;
  hfError?: string;
  e1: RunStats[];
  eB: RunStats[];
  s1: RunStats[];
  t1: RunStats[];
}

/**
 * Benchmarks one model at each of its precisions (`builds`, same dims) in the
 * same interleaved rounds: each round runs every build's engine (and its
 * transformers.js runner), the builds' order reversed every other round.
 * The "+spin" engine runs for the first build only.
 */
async function benchModel(builds: BenchModel[], opts: BenchOptions): Promise<ModelResult> {
  const name = builds[0]!.name;
  const multi = builds.length > 1 || builds[0]!.precision !== "fp32";
  const load = (model: BenchModel, spinning: boolean) =>
    Engine.load(model.dir, {
      maxBatch: opts.batch,
      maxQueue: Math.max(64, opts.batch),
      intraOpThreads: opts.threads || undefined,
      intraOpSpinning: spinning,
    });
  const closers: (() => Promise<void>)[] = [];
  try {
    const variants: Variant[] = [];
    for (const [i, model] of builds.entries()) {
      const tag = model.key;
      const suffix = multi ? ` ${model.precision}` : "";
      const labels = { engine: `engine${suffix}`, spin: `engine${suffix} +spin`, hf: `transformers.js${suffix}` };
      log(`${tag}: loading engine`);
      const engine = await load(model, false);
      closers.push(() => engine.close());
      const v: Variant = { model, labels, engine, e1: [], eB: [], s1: [], t1: [] };
      if (opts.spinRow && i === 0) {
        log(`${tag}: loading a second engine with intra-op spinning on`);
        const e = await load(model, true);
        closers.push(() => e.close());
        v.spin = e;
      }
      if (opts.transformers) {
        log(`${tag}: loading @huggingface/transformers on the same model.onnx`);
        try {
          const h = await loadTransformers(model, opts);
          closers.push(() => h.close());
          v.hf = h;
        } catch (err) {
          v.hfError = `cannot load our ${model.precision} export: ${String((err as Error).message ?? err).split("\n")[0]}`;
        }
      }
      variants.push(v);
    }

    const engine0 = variants[0]!.engine;
    const prompts = Array.from({ length: opts.batch }, (_, i) => promptOf(engine0, opts.promptTokens, i * 3));
    const b1 = [prompts[0]!.text];
    const bB = prompts.map((p) => p.text);
    const ctx = builds[0]!.manifest.dims.contextLength;
    if (prompts.some((p) => p.ids.length + opts.newTokens > ctx)) {
      throw new UsageError(`${name}: prompt + new tokens exceed the context of ${ctx}`);
    }

    log(`${name}: warm-up`);
    const short = Array.from({ length: opts.batch }, (_, i) => promptOf(engine0, 8, i));
    for (const v of variants) {
      await engineRun(v.engine, [short[0]!.text], 4);
      await engineRun(v.engine, short.map((p) => p.text), 4);
      if (v.spin) await engineRun(v.spin, [short[0]!.text], 4);
      if (v.hf) {
        try {
          await v.hf.run(short[0]!.ids, 4);
        } catch (err) {
          v.hfError = `generate() failed on our ${v.model.precision} export: ${String((err as Error).message ?? err).split("\n")[0]}`;
          v.hf = undefined;
        }
      }
    }

    for (let r = 0; r < opts.repeats; r++) {
      // Interleave the runners so machine noise hits all of them alike; the
      // (slow) batched run only every other round.
      const batched = r % 2 === 0;
      const order = r % 2 === 0 ? variants : [...variants].reverse();
      const phases = variants.reduce((n, v) => n + 1 + (v.spin ? 1 : 0) + (v.hf ? 1 : 0) + (batched ? 1 : 0), 0);
      let p = 0;
      const step = (what: string) => log(`${name}: round ${r + 1}/${opts.repeats} [${++p}/${phases}] ${what}`);
      for (const v of order) {
        // The batched run sits right before the batch-1 run it is paired with,
        // which sits right before the transformers.js run it is paired with.
        if (batched) {
          step(`${v.labels.engine} batch ${opts.batch}`);
          v.eB.push(await pooled(opts.minMs, () => engineRun(v.engine, bB, opts.newTokens)));
        }
        step(`${v.labels.engine} batch 1`);
        v.e1.push(await pooled(opts.minMs, () => engineRun(v.engine, b1, opts.newTokens)));
        if (v.hf) {
          step(`${v.labels.hf} batch 1`);
          v.t1.push(await pooled(opts.minMs, () => v.hf!.run(prompts[0]!.ids, opts.newTokens)));
        }
        if (v.spin) {
          step(`${v.labels.spin} batch 1`);
          v.s1.push(await pooled(opts.minMs, () => engineRun(v.spin!, b1, opts.newTokens)));
        }
      }
    }

    const ratio = (a: RunStats[], b: RunStats[], stride = 1) =>
      a.length && b.length ? median(a.map((x, i) => x.decodeTps / b[i * stride]!.decodeTps)) : undefined;
    const fp32 = variants.find((v) => v.model.precision === "fp32");
    return {
      name,
      variants: variants.map((v) => {
        const rows: RunnerResult[] = [rowFrom(v.labels.engine, v.e1, v.eB)];
        if (v.spin) rows.push(rowFrom(v.labels.spin, v.s1));
        if (v.hf) rows.push(rowFrom(v.labels.hf, v.t1));
        else if (v.hfError) rows.push({ runner: v.labels.hf, error: v.hfError });
        const vsFp32 = fp32 && fp32 !== v;
        return {
          model: v.model,
          labels: v.labels,
          rows,
          paired: {
            batchVsB1: ratio(v.eB, v.e1, 2),
            engineVsHf: ratio(v.e1, v.t1),
            spinVsHf: ratio(v.s1, v.t1),
            b1VsFp32: vsFp32 ? ratio(v.e1, fp32.e1) : undefined,
            batchVsFp32: vsFp32 ? ratio(v.eB, fp32.eB) : undefined,
          },
        };
      }),
    };
  } finally {
    for (const close of closers) await close().catch(() => {});
  }
}

export async function main(argv: string[]): Promise<number> {
  let opts: BenchOptions | "help";
  try {
    opts = parse(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`bench-engine: ${err.message}\n\n${HELP}`);
      return 2;
    }
    throw err;
  }
  if (opts === "help") {
    process.stdout.write(HELP);
    return 0;
  }
  try {
    mkdirSync(opts.cacheDir, { recursive: true });
    const ortVersion = (JSON.parse(readFileSync(join(ROOT, "node_modules/onnxruntime-node/package.json"), "utf8")) as { version: string }).version;
    const threads = opts.threads || Math.min(cpus().length, 2);
    log(`measuring copy bandwidth (${opts.bandwidthMb} MB, 1 and ${threads} threads)`);
    const bandwidth = Math.max(await copyBandwidth(opts.bandwidthMb, 1), threads > 1 ? await copyBandwidth(opts.bandwidthMb, threads) : 0);
    const results: ModelResult[] = [];
    const dirs: string[] = [];
    for (const name of opts.models) {
      const builds: BenchModel[] = [];
      for (const precision of opts.weights) builds.push(await prepareModel(name, precision, opts));
      dirs.push(builds[0]!.dir);
      results.push(await benchModel(builds, opts));
    }
    const env = `bench:engine: onnxruntime-node ${ortVersion} CPU, ${cpus().length} CPUs (${cpus()[0]?.model.trim() ?? "?"}), node ${process.version}\n` +
      `session options: intra-op threads ${opts.threads || "onnxruntime default"} for every runner; intra-op spinning: ` +
      `engine off (its default), engine +spin and transformers.js on (onnxruntime's default)`;
    process.stdout.write(report(results, opts, bandwidth, env));
    if (opts.steering) {
      // Steering overhead (issue goal: steered decode under 3% slower than none).
      for (const dir of dirs) {
        process.stdout.write(`\nsteering overhead, decode at batch 1 (npm run bench:steering):\n`);
        const args = ["--model", dir, "--features", "4", "--batch", "1", "--new-tokens", String(opts.newTokens), "--repeats", String(opts.repeats)];
        if (opts.threads) args.push("--threads", String(opts.threads));
        const rc = await benchSteering(args);
        if (rc !== 0) return rc;
      }
    }
    return 0;
  } catch (err) {
    process.stderr.write(`bench-engine: ${err instanceof Error ? err.message : String(err)}\n`);
    return err instanceof UsageError ? 2 : 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await main(process.argv.slice(2));
}
