/**
 * The model builder: reads a llama2.c or Hugging Face checkpoint and writes a
 * model directory with model.onnx (+ external data when large), the tokenizer
 * files and manifest.json. `scripts/build-model.ts` is its command line; the
 * sidecar calls buildModel() on first start and isBuildCurrent() afterwards.
 */
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import { buildLlamaGraph, type AttentionKind } from "./graph/llama-graph.ts";
import { residPost } from "./graph/names.ts";
import { OPSET, writeModel } from "./graph/write-model.ts";
import { openHf, parseHfConfig, readHfConfig } from "./hf.ts";
import type { Weight } from "./lazy-tensor.ts";
import { llama2cHeads, loadLlama2c } from "./llama2c.ts";
import { BUILDER_VERSION, MANIFEST_FILE, MANIFEST_FORMAT, readManifest, writeManifest, type Manifest } from "./manifest.ts";
import { hfTokenizer, llama2cTokenizer, type TokenizerInfo } from "./tokenizer-info.ts";
import { DEFAULT_BLOCK_SIZE, QUANT_BITS, type WeightPrecision } from "./quantize.ts";
import type { LlamaConfig, LlamaWeights } from "./weights.ts";
import { describeSae } from "../sae/describe.ts";
import { loadSaeForModel, manifestHooks, planHooks } from "../steering/attach.ts";
import { addHooksToBuilder } from "../steering/hook.ts";
import { HOOK_METADATA_KEY } from "../steering/names.ts";

export const MODEL_FILE = "model.onnx";

export interface BuildModelOptions {
  /** A llama2.c checkpoint (.bin file or its folder) or a Hugging Face checkpoint folder. */
  from: string;
  /** Output model directory (created; files of a previous build are replaced). */
  out: string;
  /** Model id for the manifest; default: the source folder or file name. */
  id?: string;
  /** llama2.c only: tokenizer .bin to use instead of the tok*.bin beside the checkpoint. */
  tokenizer?: string;
  /** External data for the weights: "auto" (only when over ~1.8 GB, default), "always", "never". */
  externalData?: "auto" | "always" | "never";
  /** Also expose each block's residual stream as a graph output (activation collection). */
  residualOutputs?: boolean;
  /** Layers whose residual stream gets a steering hook (sidecar/steering/hook.ts). */
  hookLayers?: number[];
  /**
   * SAE folders to bake into hooks: each at `layer`, else the layer its config
   * names, else the only hook layer (sidecar/steering/attach.ts planHooks).
   */
  saes?: { dir: string; layer?: number }[];
  /**
   * Storage of the linear layers (graph/linear.ts): fp32 (default), fp16
   * (for the CUDA provider), int8 or int4 (block-wise, MatMulNBits, for CPU).
   */
  weights?: WeightPrecision;
  /** int8/int4: values per quantization block (default 32). */
  blockSize?: number;
  /**
   * Attention (graph/llama-graph.ts): "plain" ONNX ops (default) or "gqa",
   * onnxruntime's fused GroupQueryAttention with a cache the engine keeps in
   * place (head size a multiple of 8; refused otherwise).
   */
  attention?: AttentionKind;
  /** Progress messages (default: none). */
  log?: (msg: string) => void;
  /** Called as each tensor is converted and written (done, total), for progress bars. */
  progress?: (done: number, total: number) => void;
}

export interface BuildModelResult {
  outDir: string;
  modelFile: string;
  manifest: Manifest;
  weightBytes: number;
  seconds: number;
  /** One line describing the build, for CLIs and logs. */
  summary: string;
}

interface ResolvedSource {
  kind: "llama2c" | "hf";
  /** The checkpoint file (llama2.c) or folder (HF). */
  path: string;
  /** Folder that source file names in the manifest are relative to. */
  dir: string;
}

/** Decides whether `from` is a Hugging Face folder (has config.json) or a llama2.c checkpoint. */
export function resolveSource(from: string): ResolvedSource {
  const path = resolve(from);
  if (!existsSync(path)) throw new Error(`${path}: model source not found`);
  if (statSync(path).isFile()) {
    if (basename(path) === "config.json") return { kind: "hf", path: dirname(path), dir: dirname(path) };
    return { kind: "llama2c", path, dir: dirname(path) };
  }
  if (existsSync(join(path, "config.json"))) return { kind: "hf", path, dir: path };
  const bins = readdirSync(path).filter((f) => f.endsWith(".bin") && !/^tok.*\.bin$/.test(f)).sort();
  if (bins.length === 1) return { kind: "llama2c", path: join(path, bins[0]), dir: path };
  if (bins.length > 1) throw new Error(`${path}: several llama2.c checkpoints (${bins.join(", ")}); pass the file itself`);
  throw new Error(`${path}: neither a Hugging Face checkpoint (no config.json) nor a llama2.c checkpoint (no .bin besides tok*.bin)`);
}

/** A checkpoint's attention heads, read from its config or header without loading weights. */
export function sourceHeads(from: string): Pick<LlamaConfig, "headDim" | "nHeads" | "nKvHeads"> {
  const source = resolveSource(from);
  if (source.kind === "llama2c") return llama2cHeads(source.path);
  const { headDim, nHeads, nKvHeads } = parseHfConfig(readHfConfig(source.path), join(source.path, "config.json"));
  return { headDim, nHeads, nKvHeads };
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

interface LoadedSource {
  source: ResolvedSource;
  /** Hugging Face weights stay on disk until the writer reads them, one tensor at a time. */
  weights: LlamaWeights<Weight>;
  tokenizer: TokenizerInfo;
  /** Every source file the build depends on (absolute paths). */
  files: string[];
  modelType: string | null;
}

/** The files a build from `from` depends on, without loading weights (for up-to-date checks). */
function sourceFiles(source: ResolvedSource, tokenizer?: string): string[] {
  if (source.kind === "llama2c") {
    const tok = llama2cTokenizer(source.path, tokenizer);
    return [source.path, ...tok.files, ...(tok.chatTemplateFile ? [tok.chatTemplateFile] : [])];
  }
  const dir = source.path;
  const names = ["config.json", "generation_config.json", "model.safetensors", "model.safetensors.index.json", "tokenizer.json", "tokenizer_config.json", "chat_template.jinja"];
  const files = names.map((n) => join(dir, n)).filter((f) => existsSync(f));
  const index = join(dir, "model.safetensors.index.json");
  if (existsSync(index)) {
    const map = (JSON.parse(readFileSync(index, "utf8")) as { weight_map?: Record<string, string> }).weight_map ?? {};
    for (const shard of new Set(Object.values(map))) files.push(join(dir, shard));
  }
  return [...new Set(files)].sort();
}

function load(from: string, tokenizer?: string): LoadedSource {
  const source = resolveSource(from);
  if (source.kind === "llama2c") {
    const weights = loadLlama2c(source.path);
    const tok = llama2cTokenizer(source.path, tokenizer);
    if (tok.specialTokens.some((t) => t.id >= weights.config.vocabSize)) throw new Error(`${source.path}: vocabulary too small for BOS/EOS`);
    return { source, weights, tokenizer: tok, files: sourceFiles(source, tokenizer), modelType: null };
  }
  if (tokenizer) throw new Error("--tokenizer applies to llama2.c sources only (Hugging Face folders bring tokenizer.json)");
  const { weights, hfConfig } = openHf(source.path);
  return { source, weights, tokenizer: hfTokenizer(source.path, hfConfig), files: sourceFiles(source), modelType: String(hfConfig.model_type) };
}

async function hashFiles(files: string[], dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const f of files) out[relative(dir, f) || basename(f)] = await sha256File(f);
  return out;
}

/**
 * True when `out` holds a finished build of `from`, by this builder version,
 * whose source files still have the recorded hashes (the sidecar rebuilds otherwise).
 */
export async function isBuildCurrent(from: string, out: string, opts: { tokenizer?: string; weights?: WeightPrecision; blockSize?: number; attention?: AttentionKind } = {}): Promise<boolean> {
  if (!existsSync(join(out, MANIFEST_FILE)) || !existsSync(join(out, MODEL_FILE))) return false;
  let manifest: Manifest;
  try {
    manifest = readManifest(out);
  } catch {
    return false;
  }
  const source = resolveSource(from);
  if (manifest.builderVersion !== BUILDER_VERSION) return false;
  const want = precisionOf(opts);
  if (manifest.graph.precision.weights !== want.weights || manifest.graph.precision.blockSize !== want.blockSize) return false;
  if ((manifest.graph.attention ?? "plain") !== (opts.attention ?? "plain")) return false;
  if (manifest.source.kind !== source.kind || manifest.source.path !== source.path) return false;
  const now = await hashFiles(sourceFiles(source, opts.tokenizer), source.dir);
  const before = manifest.source.sha256;
  return Object.keys(now).length === Object.keys(before).length && Object.entries(now).every(([k, h]) => before[k] === h);
}

/** The manifest's record of a build's weight precision. */
function precisionOf(opts: { weights?: WeightPrecision; blockSize?: number }): Manifest["graph"]["precision"] {
  const weights = opts.weights ?? "fp32";
  return { weights, blockSize: QUANT_BITS[weights] ? (opts.blockSize ?? DEFAULT_BLOCK_SIZE) : null };
}

/** The config's family options (everything beyond LlamaDims and the plain-Llama flags), for the manifest. */
function familyOptions(c: LlamaConfig): Record<string, unknown> {
  const { rope, activation, embedScale, sandwichNorms, attnScale, attnSoftcap, finalSoftcap, slidingWindows } = c;
  const all = { rope, activation, embedScale, sandwichNorms, attnScale, attnSoftcap, finalSoftcap, slidingWindows };
  return Object.fromEntries(Object.entries(all).filter(([, v]) => v !== undefined));
}

export async function buildModel(opts: BuildModelOptions): Promise<BuildModelResult> {
  const t0 = performance.now();
  const log = opts.log ?? (() => {});
  const outDir = resolve(opts.out);
  const loaded = load(opts.from, opts.tokenizer);
  const { source, weights, tokenizer } = loaded;
  const c = weights.config;
  log(`loaded ${source.kind} checkpoint ${source.path} (${c.nLayers} layers, d_model ${c.dModel})`);

  mkdirSync(outDir, { recursive: true });
  // The manifest marks a finished build: remove it first so a crash leaves none.
  rmSync(join(outDir, MANIFEST_FILE), { force: true });
  const precision = precisionOf(opts);
  const attention = opts.attention ?? "plain";
  const graph = buildLlamaGraph(weights, { residualOutputs: opts.residualOutputs, weights: precision.weights, blockSize: precision.blockSize ?? undefined, attention });
  const saes = (opts.saes ?? []).map((s) => ({ loaded: loadSaeForModel(s.dir, c.dModel, c.nLayers), layer: s.layer }));
  for (const s of saes) log(`read SAE ${s.loaded.dir}: ${describeSae(s.loaded.sae)}`);
  const hooks = addHooksToBuilder(graph, planHooks(opts.hookLayers ?? [], saes, c.nLayers), residPost, c.dModel);
  if (hooks.length) log(`hooked layers ${hooks.map((h) => `${h.layer}${h.sae ? ` (${h.sae.architecture} SAE, ${h.sae.dSae} features)` : ""}`).join(", ")}`);
  const modelFile = join(outDir, MODEL_FILE);
  const metadata: Record<string, string> = { source: source.path };
  if (hooks.length) metadata[HOOK_METADATA_KEY] = JSON.stringify(hooks);
  log(`writing ${precision.weights} weights${precision.blockSize ? ` (blocks of ${precision.blockSize})` : ""}`);
  const written = writeModel(graph, modelFile, { externalData: opts.externalData, metadata, onTensor: opts.progress });
  log(`wrote ${modelFile}${written.externalDataFile ? ` + ${written.externalDataFile}` : ""}`);

  const copied: string[] = [];
  for (const f of tokenizer.files) {
    const dest = join(outDir, basename(f));
    if (resolve(f) !== dest) {
      rmSync(dest, { force: true }); // sources are often read-only; a copy would keep that mode
      copyFileSync(f, dest);
      chmodSync(dest, 0o644);
    }
    copied.push(basename(f));
  }

  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    builderVersion: BUILDER_VERSION,
    id: opts.id ?? basename(source.kind === "llama2c" ? source.path.replace(/\.bin$/, "") : source.path),
    architecture: loaded.modelType ?? "llama",
    source: { kind: source.kind, path: source.path, sha256: await hashFiles(loaded.files, source.dir), modelType: loaded.modelType },
    dims: {
      vocabSize: c.vocabSize, dModel: c.dModel, nLayers: c.nLayers, nHeads: c.nHeads, nKvHeads: c.nKvHeads,
      headDim: c.headDim, hiddenDim: c.hiddenDim, contextLength: c.contextLength, ropeTheta: c.ropeTheta, rmsNormEps: c.rmsNormEps,
    },
    graph: {
      file: MODEL_FILE, externalData: written.externalDataFile, opset: OPSET,
      sourceRotary: c.rotary, tiedEmbeddings: c.tiedEmbeddings, qkvBias: c.qkvBias, residualOutputs: opts.residualOutputs ?? false,
      family: familyOptions(c),
      precision,
      attention,
    },
    tokenizer: {
      kind: tokenizer.kind, files: copied, bosId: tokenizer.bosId, eosId: tokenizer.eosId, eosIds: tokenizer.eosIds, addBos: tokenizer.addBos,
    },
    chatTemplate: tokenizer.chatTemplate,
    specialTokens: tokenizer.specialTokens,
    residualTensors: Array.from({ length: c.nLayers }, (_, l) => residPost(l)),
    hookedLayers: [],
    ...(hooks.length ? manifestHooks(hooks) : {}),
  };
  writeManifest(outDir, manifest);

  const seconds = (performance.now() - t0) / 1000;
  const params = weights.tokenEmbedding.length + (c.tiedEmbeddings ? 0 : weights.lmHead.length) + weights.finalNorm.length +
    weights.layers.reduce((n, l) => n + Object.values(l).reduce((m: number, a) => m + (a ? (a as Weight).length : 0), 0), 0);
  const summary = `built ${manifest.id} (${source.kind}${loaded.modelType ? `/${loaded.modelType}` : ""}, ${(params / 1e6).toFixed(2)}M params, ` +
    `${c.nLayers} layers, d_model ${c.dModel}, heads ${c.nHeads}/${c.nKvHeads} kv, vocab ${c.vocabSize}, ` +
    `tokenizer ${tokenizer.kind}, ${precision.weights} weights${attention === "gqa" ? ", fused attention (gqa)" : ""}: ${(written.weightBytes / 1e6).toFixed(1)} MB) -> ${modelFile}${written.externalDataFile ? ` + ${written.externalDataFile}` : ""} in ${seconds.toFixed(1)}s`;
  return { outDir, modelFile, manifest, weightBytes: written.weightBytes, seconds, summary };
}
