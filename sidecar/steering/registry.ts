/**
 * The steering profiles a sidecar serves, and the model graph they need.
 *
 * Each profile names an SAE and a layer. A layer's hook carries one SAE, so
 * every profile at a layer must use the same SAE folder. When the built
 * model already carries that SAE at that layer (manifest `saes`, same hash),
 * its graph is used as is; otherwise the SAE is attached at load by graph
 * surgery, in memory: the weights stay in the model folder's files, which
 * the graph with SAEs attached refers to (file-refs.ts). A baked SAE whose
 * hook is of an older format (before conditional steering) is attached
 * again the same way.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { readReferringToFile } from "../model/graph/file-refs.ts";
import type { Manifest } from "../model/manifest.ts";
import { readSaeCfg } from "../sae/load.ts";
import { attachToModel, loadSaeForModel, manifestHooks, type LoadedSae } from "./attach.ts";
import { HOOK_FORMAT } from "./names.ts";
import { checkProfileFits, loadProfile, type SteeringProfile } from "./profile.ts";
import { encodeModelProto } from "./surgery.ts";

export interface LoadedProfile {
  profile: SteeringProfile;
  sae: LoadedSae;
}

export interface ProfileSources {
  /** Profile files that must load (an error stops the load). */
  files?: string[];
  /** Folders scanned for *.json profiles (one level of subfolders too); ones that do not fit are skipped with a warning. */
  dirs?: string[];
  warn?: (message: string) => void;
}

/** *.json files under `dir` (and its direct subfolders) that look like profiles (not SAE cfg.json). */
export function findProfileFiles(dir: string): string[] {
  const out: string[] = [];
  const scan = (d: string, depth: number) => {
    for (const name of readdirSync(d).sort()) {
      const f = join(d, name);
      const st = statSync(f);
      if (st.isDirectory() && depth > 0) scan(f, depth - 1);
      else if (st.isFile() && name.endsWith(".json") && name !== "cfg.json" && name !== "manifest.json") out.push(f);
    }
  };
  if (existsSync(dir)) scan(resolve(dir), 1);
  return out;
}

/** The model an SAE's cfg.json says it was trained on (`model_name`), if it says. */
function saeModelName(dir: string): string | undefined {
  try {
    const name = readSaeCfg(dir).model_name;
    return typeof name === "string" && name !== "" ? name : undefined;
  } catch {
    return undefined;
  }
}

/** Loads profiles and their SAEs for a model; checks layers, widths and feature indices. */
export function loadProfiles(src: ProfileSources, manifest: Manifest): Map<string, LoadedProfile> {
  const warn = src.warn ?? ((m: string) => process.stderr.write(`${m}\n`));
  const profiles = new Map<string, LoadedProfile>();
  const saeCache = new Map<string, LoadedSae>();
  const bySaeLayer = new Map<number, LoadedProfile>();
  const add = (file: string, strict: boolean) => {
    try {
      const profile = loadProfile(file);
      let sae = saeCache.get(profile.sae);
      if (!sae) {
        try {
          sae = loadSaeForModel(profile.sae, manifest.dims.dModel, manifest.dims.nLayers);
        } catch (e) {
          throw new Error(`${profile.file}: sae: ${(e as Error).message}`);
        }
        saeCache.set(profile.sae, sae);
      }
      checkProfileFits(profile, { dSae: sae.sae.dSae, nLayers: manifest.dims.nLayers });
      if (sae.sae.layer !== undefined && sae.sae.layer !== profile.layer) {
        throw new Error(`${profile.file}: layer: ${profile.layer}, but the SAE ${sae.dir} reads layer ${sae.sae.layer} (its cfg.json hook)`);
      }
      const trainedOn = saeModelName(sae.dir);
      if (trainedOn !== undefined && trainedOn !== manifest.id) {
        const msg = `${profile.file}: sae: ${sae.dir} was trained on model "${trainedOn}", this is "${manifest.id}"`;
        if (!strict) throw new Error(msg);
        warn(`warning: ${msg}`);
      }
      const prev = profiles.get(profile.name);
      if (prev) throw new Error(`${profile.file}: name: profile "${profile.name}" is also defined in ${prev.profile.file}`);
      const other = bySaeLayer.get(profile.layer);
      if (other && other.sae.sha256 !== sae.sha256) {
        throw new Error(`${profile.file}: sae: layer ${profile.layer} already carries ${other.sae.dir} (profile "${other.profile.name}"); one SAE per layer`);
      }
      const loaded = { profile, sae };
      profiles.set(profile.name, loaded);
      bySaeLayer.set(profile.layer, loaded);
    } catch (e) {
      if (strict) throw e;
      warn(`warning: skipping steering profile ${file}: ${(e as Error).message}`);
    }
  };
  for (const f of src.files ?? []) add(resolve(f), true);
  for (const d of src.dirs ?? []) for (const f of findProfileFiles(d)) if (![...profiles.values()].some((p) => p.profile.file === f)) add(f, false);
  return profiles;
}

/**
 * The SAEs the profiles need that the built graph does not carry, one per
 * layer. A baked SAE whose hook predates the current hook format (manifest
 * `hookFormat` below names.ts HOOK_FORMAT: no condition inputs) counts as
 * missing too, `outdated`, so it is attached again.
 */
export function missingSaes(profiles: Iterable<LoadedProfile>, manifest: Manifest): { layer: number; sae: LoadedSae; outdated: boolean }[] {
  const need = new Map<number, LoadedSae>();
  for (const p of profiles) need.set(p.profile.layer, p.sae);
  return [...need].flatMap(([layer, sae]): { layer: number; sae: LoadedSae; outdated: boolean }[] => {
    const baked = (manifest.saes ?? []).find((s) => s.layer === layer);
    if (!baked || baked.sha256 !== sae.sha256) return [{ layer, sae, outdated: false }];
    return (baked.hookFormat ?? 1) < HOOK_FORMAT ? [{ layer, sae, outdated: true }] : [];
  });
}

export interface PreparedModel {
  /** The model to open: the built file, or the bytes of the graph with SAEs attached (its weights in the built file's folder: open it with that folder as the external-data folder). */
  model: string | Uint8Array;
  manifest: Manifest;
  /** Layers attached at load. */
  attached: number[];
  /** Of those, the layers whose baked hook was attached again because it predates the current HOOK_FORMAT. */
  outdated: number[];
}

/**
 * Attaches the missing SAEs to the model's graph, in memory; the graph
 * refers to the built file for its weights instead of holding them.
 */
export function prepareModel(modelDir: string, manifest: Manifest, profiles: Iterable<LoadedProfile>): PreparedModel {
  const file = join(modelDir, manifest.graph.file);
  const missing = missingSaes(profiles, manifest);
  const outdated = missing.filter((m) => m.outdated).map((m) => m.layer);
  if (missing.length === 0) return { model: file, manifest, attached: [], outdated };
  const model = readReferringToFile(file);
  let records = attachToModel(model, missing[0]!.layer, missing[0]!.sae, manifest.dims.dModel);
  for (const m of missing.slice(1)) records = attachToModel(model, m.layer, m.sae, manifest.dims.dModel);
  // Hooks the builder wrote are in the metadata; keep the manifest's view of any we did not touch.
  const touched = new Set(missing.map((m) => m.layer));
  const kept = (manifest.saes ?? []).filter((s) => !touched.has(s.layer));
  const hooks = manifestHooks(records);
  const next: Manifest = {
    ...manifest,
    hookedLayers: [...new Set([...manifest.hookedLayers, ...hooks.hookedLayers])].sort((a, b) => a - b),
    saes: [...kept, ...(hooks.saes ?? []).filter((s) => touched.has(s.layer))].sort((a, b) => a.layer - b.layer),
  };
  return { model: encodeModelProto(model), manifest: next, attached: [...touched], outdated };
}
