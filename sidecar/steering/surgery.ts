/**
 * Graph surgery on ONNX decoder files: find the residual-stream tensor of a
 * layer in an existing export, insert (or replace) the steering hook there,
 * and write the model back. Used by `npm run hook-model`, `npm run attach-sae`
 * and the engine (attaching a profile's SAE at load).
 */
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { onnx } from "../model/graph/onnx-builder.ts";
import { residPost } from "../model/graph/names.ts";
import type { Sae } from "../sae/types.ts";
import { insertHookIntoModel, readHookRecords, type HookRecord, type HookSpec } from "./hook.ts";
import { hookPrefix } from "./names.ts";

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
 * The residual-stream tensor after block `layer`, by the naming conventions
 * we know (first match wins):
 *   - an existing hook's input (the layer is hooked already)
 *   - ours:                          /model/layers.L/resid_post
 *   - Optimum / transformers.js:     /model/layers.L/Add_1_output_0   (the block's second residual add)
 * Graphs where the residual add is fused into the next norm
 * (SkipSimplifiedLayerNormalization, as onnxruntime-genai exports them) cannot
 * be hooked there: the fused node normalizes the unsteered sum itself.
 */
export function residualCandidates(layer: number): string[] {
  return [residPost(layer), `/model/layers.${layer}/Add_1_output_0`];
}

const FUSED_NORMS = new Set(["SkipSimplifiedLayerNormalization", "SkipLayerNormalization"]);

/** Throws when `tensor` is the residual-sum output of a fused Skip*LayerNormalization node. */
export function checkNotFused(model: ModelProto, tensor: string): void {
  const producer = (model.graph?.node ?? []).find((n) => (n.output ?? []).includes(tensor));
  if (producer && FUSED_NORMS.has(producer.opType ?? "") && (producer.output ?? []).indexOf(tensor) > 0) {
    throw new Error(
      `${tensor} is the residual sum of the fused ${producer.opType} node ${producer.name}, which normalizes the unsteered sum itself; ` +
        "hook an export without that fusion (e.g. Optimum / transformers.js)",
    );
  }
}

function tensorNames(model: ModelProto): Set<string> {
  const names = new Set<string>();
  for (const n of model.graph?.node ?? []) for (const o of n.output ?? []) names.add(o);
  for (const i of model.graph?.input ?? []) if (i.name) names.add(i.name);
  return names;
}

/** The residual tensor of `layer` in `model`, or an error listing what was tried. */
export function detectResidualTensor(model: ModelProto, layer: number): string {
  const hookIn = (model.graph?.node ?? []).find((n) => n.name === `${hookPrefix(layer)}/in`);
  if (hookIn) return hookIn.input![0]!;
  const names = tensorNames(model);
  const candidates = residualCandidates(layer);
  const found = candidates.find((c) => names.has(c));
  if (found) return found;
  const fused = (model.graph?.node ?? []).find((n) => FUSED_NORMS.has(n.opType ?? "") && (n.name ?? "").includes(`layers.${layer + 1}/`));
  if (fused) checkNotFused(model, fused.output![fused.output!.length - 1]!);
  const merged = (model.graph?.node ?? []).some((n) => n.opType === "If" && !(n.name ?? "").startsWith("steer."));
  throw new Error(
    `no residual-stream tensor found for layer ${layer} (tried ${candidates.join(", ")})` +
      (merged ? "; the graph has If nodes (a merged decoder?): hook the decoder without the use_cache branch" : "") +
      "; name it with --tensor",
  );
}

/** The layer a tensor name belongs to (`/model/layers.L/...`), when its name says. */
export function layerOfTensor(name: string): number | undefined {
  const m = /(?:^|\/)layers\.(\d+)\//.exec(name);
  return m ? Number(m[1]) : undefined;
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

/** Inserts or replaces the hook at `opts.layer` in `model` (in place). */
export function hookModel(model: ModelProto, opts: HookModelOptions): HookRecord {
  const tensor = opts.tensor ?? detectResidualTensor(model, opts.layer);
  checkNotFused(model, tensor);
  // Our own builds keep the residual stream float32 at every weight precision;
  // a foreign export with half-precision weights computes in half precision.
  const emb = (model.graph?.initializer ?? []).find((t) => t.name === "model.embed_tokens.weight");
  if (emb && emb.dataType !== onnx.TensorProto.DataType.FLOAT && model.producerName !== "steerguard") {
    throw new Error(`the model's weights are ${onnx.TensorProto.DataType[emb.dataType ?? 0]}; the hook is float32 only (use an fp32 export)`);
  }
  const spec: HookSpec = { layer: opts.layer, sae: opts.sae, dir: opts.saeDir ?? null, sha256: opts.saeSha256 ?? null };
  const dModel = opts.dModel ?? modelDModel(model) ?? opts.sae?.dIn ?? 0;
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
