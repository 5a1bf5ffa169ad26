/**
 * Graph surgery on ONNX decoder files: find the residual-stream tensor of a
 * layer in an existing export, insert (or replace) the steering hook there,
 * and write the model back. Used by `npm run hook-model`, `npm run attach-sae`
 * and the engine (attaching a profile's SAE at load).
 */
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { onnx, type INodeProto } from "../model/graph/onnx-builder.ts";
import { residPost } from "../model/graph/names.ts";
import type { Sae } from "../sae/types.ts";
import { checkSae, insertHookIntoModel, readHookRecords, type HookRecord, type HookSpec } from "./hook.ts";
import { hookPrefix } from "./names.ts";
import { fusedSumOutput, isFusedSkipNorm, unfuseSkipNorm } from "./unfuse.ts";

export type ModelProto = InstanceType<typeof onnx.ModelProto>;

export function readModelProto(file: string): ModelProto {
  return onnx.ModelProto.decode(readFileSync(file));
}

export function encodeModelProto(model: ModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

/** External data files (relative names) an ONNX model refers to. */
export function externalDataFiles(model: ModelProto): string[] {
  const files = new Set<string>();
  for (const t of model.graph?.initializer ?? []) {
    if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
      const loc = (t.externalData ?? []).find((e) => e.key === "location")?.value;
      if (loc) files.add(loc);
    }
  }
  return [...files];
}

/**
 * Writes `model` to `file`; external data files the model refers to are
 * copied from `fromDir` when they are not already beside the new file.
 */
export function writeModelProto(model: ModelProto, file: string, fromDir: string): void {
  const outDir = dirname(resolve(file));
  mkdirSync(outDir, { recursive: true });
  for (const name of externalDataFiles(model)) {
    const src = join(resolve(fromDir), name);
    const dest = join(outDir, name);
    if (resolve(src) !== resolve(dest)) copyFileSync(src, dest);
  }
  writeFileSync(file, encodeModelProto(model));
}

/**
 * Names the residual-stream tensor after block `layer` has, by the naming
 * conventions we know (first match wins after an existing hook's input):
 *   - ours:                          /model/layers.L/resid_post
 *   - Optimum / transformers.js:     /model/layers.L/Add_1_output_0   (the block's second residual add)
 *   - onnxruntime-genai:             /model/layers.{L+1}/input_layernorm/output_3
 *                                    (the sum output of the next block's fused SkipLayerNorm)
 * The first two stay the same when onnxruntime's transformer optimizer fuses
 * the add into the next norm: the sum becomes the fused node's 4th output.
 */
export function residualCandidates(layer: number): string[] {
  return [residPost(layer), `/model/layers.${layer}/Add_1_output_0`, `/model/layers.${layer + 1}/input_layernorm/output_3`];
}

/**
 * Where the residual after a block is: a tensor, and the fused
 * Skip*LayerNormalization node that computes it when there is one (unfused
 * before hooking, ./unfuse.ts). A fused node without a 4th output has no
 * tensor for the sum yet: it will be named `tensor` (our resid_post name).
 */
interface ResidualSite {
  tensor: string;
  fused: INodeProto | null;
}

const producerOf = (model: ModelProto, tensor: string) => (model.graph?.node ?? []).find((n) => (n.output ?? []).includes(tensor));

/** The site of a named tensor; refuses a fused norm's mean or inv_std_var. */
function siteOfTensor(model: ModelProto, tensor: string): ResidualSite {
  const producer = producerOf(model, tensor);
  if (!producer || !isFusedSkipNorm(producer)) return { tensor, fused: null };
  const k = producer.output!.indexOf(tensor);
  if (k === 1 || k === 2) {
    throw new Error(`${tensor} is the ${k === 1 ? "mean" : "inv_std_var"} output of the fused ${producer.opType} node ${producer.name}, not a residual stream`);
  }
  return { tensor, fused: k === 3 ? producer : null };
}

/** Decoder blocks, counted from the past key inputs (Optimum, genai and ours name them alike). */
function layerCount(model: ModelProto): number {
  return (model.graph?.input ?? []).filter((i) => /^past_key_values\.\d+\.key$/.test(i.name ?? "")).length;
}

/**
 * The fused norm that adds block `layer`'s output to the residual, by name
 * (genai: the next block's input norm, or after the last block the final
 * norm, /model/layers.N/final_norm_layernorm/SkipLayerNorm; /model/norm/...),
 * else, for the last block, the last fused norm without a 4th output (the
 * final norm of a graph fused by onnxruntime's transformer optimizer, whose
 * sum nothing else reads).
 */
function fusedNormAfter(model: ModelProto, layer: number): INodeProto | undefined {
  const fused = (model.graph?.node ?? []).filter(isFusedSkipNorm);
  const next = `/model/layers.${layer + 1}/`;
  const named = fused.find((n) => (n.name ?? "").startsWith(next) && /\/(input|final_norm)_layernorm\//.test(n.name ?? ""));
  if (named) return named;
  if (layer !== layerCount(model) - 1) return undefined;
  const last = fused.at(-1);
  if (last && ((last.name ?? "").startsWith("/model/norm/") || !fusedSumOutput(last))) return last;
  return undefined;
}

function tensorNames(model: ModelProto): Set<string> {
  const names = new Set<string>();
  for (const n of model.graph?.node ?? []) for (const o of n.output ?? []) if (o) names.add(o);
  for (const i of model.graph?.input ?? []) if (i.name) names.add(i.name);
  return names;
}

/** The residual site of `layer` in `model`, or an error listing what was tried. */
function residualSite(model: ModelProto, layer: number): ResidualSite {
  const hookIn = (model.graph?.node ?? []).find((n) => n.name === `${hookPrefix(layer)}/in`);
  if (hookIn) return { tensor: hookIn.input![0]!, fused: null };
  const names = tensorNames(model);
  const candidates = residualCandidates(layer);
  const found = candidates.find((c) => names.has(c));
  if (found) return siteOfTensor(model, found);
  const fused = fusedNormAfter(model, layer);
  // resid_post is free here: it was the first candidate.
  if (fused) return { tensor: fusedSumOutput(fused) ?? residPost(layer), fused };
  const merged = (model.graph?.node ?? []).some((n) => n.opType === "If" && !(n.name ?? "").startsWith("steer."));
  throw new Error(
    `no residual-stream tensor found for layer ${layer} (tried ${candidates.join(", ")}, ` +
      `and a fused Skip*LayerNormalization named /model/layers.${layer + 1}/input_layernorm/ or final_norm_layernorm/)` +
      (merged ? "; the graph has If nodes (a merged decoder?): hook the decoder without the use_cache branch" : "") +
      "; name it with --tensor",
  );
}

/**
 * The residual tensor of `layer` in `model` the hook reads, or an error
 * listing what was tried. In a fused graph whose norm after the block has no
 * 4th output this names the tensor unfusing will create (resid_post).
 */
export function detectResidualTensor(model: ModelProto, layer: number): string {
  return residualSite(model, layer).tensor;
}

/**
 * The layer a tensor name belongs to (`/model/layers.L/...`), when its name
 * says; a genai fused norm's sum `/model/layers.{L+1}/input_layernorm/output_3`
 * is the residual after block L.
 */
export function layerOfTensor(name: string): number | undefined {
  const m = /(?:^|\/)layers\.(\d+)\//.exec(name);
  if (!m) return undefined;
  const sumOfNext = /\/(input|final_norm)_layernorm\/output_3$/.test(name);
  return Number(m[1]) - (sumOfNext ? 1 : 0);
}

/** d_model from the token embedding initializer (Optimum/ours name it model.embed_tokens.weight). */
export function modelDModel(model: ModelProto): number | undefined {
  const emb = (model.graph?.initializer ?? []).find((t) => t.name === "model.embed_tokens.weight");
  const d = emb?.dims?.[1];
  return d === undefined ? undefined : Number(d);
}

export interface HookModelOptions {
  layer: number;
  /** The residual tensor; detected when absent. */
  tensor?: string;
  sae: Sae | null;
  saeDir?: string | null;
  saeSha256?: string | null;
  /** The model's d_model when known (checked against the SAE). */
  dModel?: number;
}

/** Our own builds keep the residual stream float32 at every weight precision; a foreign export with half-precision weights computes in half precision. */
function checkFloat32(model: ModelProto): void {
  const emb = (model.graph?.initializer ?? []).find((t) => t.name === "model.embed_tokens.weight");
  if (emb && emb.dataType !== onnx.TensorProto.DataType.FLOAT && model.producerName !== "steerguard") {
    throw new Error(`the model's weights are ${onnx.TensorProto.DataType[emb.dataType ?? 0]}; the hook is float32 only (use an fp32 export)`);
  }
}

/**
 * Inserts or replaces the hook at `opts.layer` in `model` (in place). A
 * residual computed inside a fused Skip*LayerNormalization node is unfused
 * first (./unfuse.ts), so the norm reads the steered residual too.
 */
export function hookModel(model: ModelProto, opts: HookModelOptions): HookRecord {
  const site = opts.tensor ? siteOfTensor(model, opts.tensor) : residualSite(model, opts.layer);
  checkFloat32(model);
  const dModel = opts.dModel ?? modelDModel(model) ?? opts.sae?.dIn ?? 0;
  if (opts.sae) checkSae(opts.sae, dModel); // before the graph changes
  const tensor = site.fused ? unfuseSkipNorm(model, site.fused, site.tensor) : site.tensor;
  const spec: HookSpec = { layer: opts.layer, sae: opts.sae, dir: opts.saeDir ?? null, sha256: opts.saeSha256 ?? null };
  return insertHookIntoModel(model, spec, tensor, dModel);
}

export { readHookRecords };

/**
 * A hash identifying an SAE folder: sha256 over the names and sha256 of its
 * files (cfg.json, safetensors, ...), so a retrained SAE is told apart.
 */
export function saeDirHash(dir: string): string {
  const abs = resolve(dir);
  const outer = createHash("sha256");
  // A bare file (Gemma Scope's params.npz) is its own SAE; a folder is hashed
  // with its subfolders (Llama Scope keeps the weights in checkpoints/).
  const visit = (path: string, rel: string, depth: number) => {
    const st = statSync(path);
    if (st.isFile()) {
      outer.update(`${rel}\0${createHash("sha256").update(readFileSync(path)).digest("hex")}\n`);
      return;
    }
    if (!st.isDirectory() || depth > 2) return;
    for (const name of readdirSync(path).sort()) {
      if (name.startsWith(".") || name.endsWith(".md")) continue;
      visit(join(path, name), rel ? `${rel}/${name}` : name, depth + 1);
    }
  };
  visit(abs, statSync(abs).isFile() ? basename(abs) : "", 0);
  return outer.digest("hex");
}
