/**
 * Baking SAEs into steering hooks: at build time (build-model --hook-layers
 * --sae), onto a built model directory (npm run attach-sae), or in memory
 * when the engine loads a profile whose SAE the model does not carry yet.
 */
import { copyFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { readManifest, writeManifest, type Manifest } from "../model/manifest.ts";
import { loadSae } from "../sae/load.ts";
import type { Sae } from "../sae/types.ts";
import type { HookRecord, HookSpec } from "./hook.ts";
import { hookModel, readHookRecords, readModelProto, saeDirHash, writeModelProto, type ModelProto } from "./surgery.ts";

export interface LoadedSae {
  sae: Sae;
  /** Absolute folder. */
  dir: string;
  sha256: string;
}

export function loadSaeForModel(dir: string, dModel?: number, nLayers?: number): LoadedSae {
  const abs = resolve(dir);
  return { sae: loadSae(abs, { dModel, nLayers }), dir: abs, sha256: saeDirHash(abs) };
}

/**
 * Hook specs for a build: every layer of `hookLayers` gets a hook; each SAE
 * goes to `layer` if given, else to the layer its config names, else to the
 * only hooked layer. An SAE's layer is hooked even when not listed.
 */
export function planHooks(hookLayers: number[], saes: { loaded: LoadedSae; layer?: number }[], nLayers: number): HookSpec[] {
  const specs = new Map<number, HookSpec>();
  for (const l of hookLayers) {
    if (!Number.isInteger(l) || l < 0 || l >= nLayers) throw new Error(`hook layer ${l} is out of range (the model has ${nLayers} layers)`);
    specs.set(l, { layer: l, sae: null });
  }
  for (const { loaded, layer } of saes) {
    let l = layer ?? loaded.sae.layer;
    if (l === undefined) {
      if (hookLayers.length !== 1) throw new Error(`${loaded.dir}: the SAE's config names no layer; give it as LAYER=DIR or hook exactly one layer`);
      l = hookLayers[0]!;
    }
    if (l < 0 || l >= nLayers) throw new Error(`${loaded.dir}: layer ${l} is out of range (the model has ${nLayers} layers)`);
    if (specs.get(l)?.sae) throw new Error(`two SAEs for layer ${l} (${specs.get(l)!.dir} and ${loaded.dir})`);
    specs.set(l, { layer: l, sae: loaded.sae, dir: loaded.dir, sha256: loaded.sha256 });
  }
  return [...specs.values()].sort((a, b) => a.layer - b.layer);
}

/** The manifest's hookedLayers and saes for a set of hook records. */
export function manifestHooks(records: HookRecord[]): Pick<Manifest, "hookedLayers" | "saes"> {
  const sorted = [...records].sort((a, b) => a.layer - b.layer);
  return {
    hookedLayers: sorted.map((r) => r.layer),
    saes: sorted.flatMap((r) =>
      r.sae
        ? [{ layer: r.layer, tensor: r.tensor, architecture: r.sae.architecture, dSae: r.sae.dSae, k: r.sae.k, dir: r.sae.dir, sha256: r.sae.sha256, ...(r.format ? { hookFormat: r.format } : {}) }]
        : [],
    ),
  };
}

/** Attaches `sae` at `layer` to a loaded ModelProto (replacing what the layer had). */
export function attachToModel(model: ModelProto, layer: number, loaded: LoadedSae | null, dModel: number, tensor?: string): HookRecord[] {
  hookModel(model, { layer, tensor, sae: loaded?.sae ?? null, saeDir: loaded?.dir ?? null, saeSha256: loaded?.sha256 ?? null, dModel });
  return readHookRecords(model);
}

export interface AttachSaeOptions {
  /** Built model directory (manifest.json + model.onnx). */
  model: string;
  /** SAE folder; absent: an empty hook (a place to attach one later). */
  sae?: string;
  /** Layer (default: the one the SAE's config names). */
  layer?: number;
  /** Output directory (default: rewrite `model` in place). */
  out?: string;
}

/** `npm run attach-sae`: bakes an SAE into a built model's graph and manifest. */
export function attachSae(opts: AttachSaeOptions): { outDir: string; record: HookRecord; manifest: Manifest } {
  const dir = resolve(opts.model);
  const manifest = readManifest(dir);
  const loaded = opts.sae ? loadSaeForModel(opts.sae, manifest.dims.dModel, manifest.dims.nLayers) : null;
  const layer = opts.layer ?? loaded?.sae.layer;
  if (layer === undefined) throw new Error(opts.sae ? `${loaded!.dir}: the SAE's config names no layer; pass --layer` : "pass --layer");
  if (layer < 0 || layer >= manifest.dims.nLayers) throw new Error(`layer ${layer} is out of range (the model has ${manifest.dims.nLayers} layers)`);
  const file = join(dir, manifest.graph.file);
  const model = readModelProto(file);
  const records = attachToModel(model, layer, loaded, manifest.dims.dModel);
  const outDir = resolve(opts.out ?? dir);
  writeModelProto(model, join(outDir, manifest.graph.file), dir);
  const next: Manifest = { ...manifest, ...manifestHooks(records) };
  if (outDir !== dir) copyModelSideFiles(dir, outDir, manifest);
  writeManifest(outDir, next);
  return { outDir, record: records.find((r) => r.layer === layer)!, manifest: next };
}

function copyModelSideFiles(from: string, to: string, m: Manifest): void {
  // tokenizer files travel with the model
  for (const f of m.tokenizer.files) {
    const src = join(from, f);
    const dest = join(to, f);
    if (src !== dest) copyFileSync(src, dest);
  }
}
