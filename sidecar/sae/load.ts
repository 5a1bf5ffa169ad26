/**
 * Loading sparse autoencoders: the layout is detected from the files, each
 * layout's loader lives in ./formats/, and every loader returns the one `Sae`
 * form of types.ts (normalisations folded into the weights).
 *
 * - SAELens (formats/saelens.ts): cfg.json + sae_weights.safetensors, cfg.json of
 *   SAELens before 6.0 and of 6.x; also what SAELens saves of Gemma Scope and Llama Scope.
 * - EleutherAI sparsify (formats/sparsify.ts): cfg.json + sae.safetensors.
 * - Gemma Scope (formats/gemma-scope.ts): params.npz (the folder, or the file itself).
 * - Llama Scope / OpenMOSS lm-saes (formats/llama-scope.ts): hyperparams.json +
 *   checkpoints/final.safetensors.
 *
 * `loadSae(path, { dModel, nLayers })` refuses an SAE that does not fit the
 * model (d_in other than d_model, a layer the model does not have), naming the
 * file and the field it read. `describeSae` says what was read. Every error
 * names the file and the field, tensor or entry at fault.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { checkFit, type LoadedSae, type ModelFit } from "./formats/common.ts";
import { GEMMA_SCOPE_PARAMS, loadGemmaScope } from "./formats/gemma-scope.ts";
import { LLAMA_SCOPE_HPARAMS, LLAMA_SCOPE_WEIGHTS, loadLlamaScope } from "./formats/llama-scope.ts";
import { loadSaeLens, SAELENS_CFG, SAELENS_WEIGHTS } from "./formats/saelens.ts";
import { loadSparsify, SPARSIFY_WEIGHTS } from "./formats/sparsify.ts";
import type { Sae } from "./types.ts";

export { describeSae } from "./describe.ts";
export { layerFromHookName } from "./formats/common.ts";
export { GEMMA_SCOPE_PARAMS } from "./formats/gemma-scope.ts";
export { LLAMA_SCOPE_HPARAMS, LLAMA_SCOPE_WEIGHTS } from "./formats/llama-scope.ts";
export { readSaeCfg, saveSaeLens, SAELENS_CFG, SAELENS_WEIGHTS } from "./formats/saelens.ts";
export { SPARSIFY_WEIGHTS } from "./formats/sparsify.ts";

export interface LoadSaeOptions {
  /** The model's residual width: the SAE's d_in must equal it. */
  dModel?: number;
  /** The model's number of decoder blocks: the SAE's layer must be below it. */
  nLayers?: number;
}

export type SaeLayout = "saelens" | "sparsify" | "gemma-scope" | "llama-scope";

const LOADERS: Record<SaeLayout, (path: string, fit: ModelFit) => LoadedSae> = {
  saelens: loadSaeLens,
  sparsify: loadSparsify,
  "gemma-scope": loadGemmaScope,
  "llama-scope": loadLlamaScope,
};

/** What each layout needs, for the "no SAE found" error. */
const NEEDS = [
  `${SAELENS_CFG} + ${SAELENS_WEIGHTS} (SAELens)`,
  `${SAELENS_CFG} + ${SPARSIFY_WEIGHTS} (EleutherAI sparsify)`,
  `${GEMMA_SCOPE_PARAMS} (Gemma Scope; or the path of the .npz itself)`,
  `${LLAMA_SCOPE_HPARAMS} + ${LLAMA_SCOPE_WEIGHTS} (Llama Scope / OpenMOSS lm-saes)`,
];
const MARKERS = [SAELENS_WEIGHTS, SPARSIFY_WEIGHTS, GEMMA_SCOPE_PARAMS, LLAMA_SCOPE_HPARAMS];

/** Which layout a folder (or an .npz file) holds; throws, saying what each layout needs and what is there, when none. */
export function detectSaeLayout(path: string): SaeLayout {
  const abs = resolve(path);
  if (!existsSync(abs)) throw new Error(`${abs}: SAE folder not found`);
  if (statSync(abs).isFile()) {
    if (abs.endsWith(".npz")) return "gemma-scope";
    throw new Error(`${abs}: a file: an SAE is a folder with ${NEEDS.join(", or ")}`);
  }
  const has = (name: string) => existsSync(join(abs, name));
  const cfg = join(abs, SAELENS_CFG);
  if (has(SAELENS_WEIGHTS)) {
    if (!has(SAELENS_CFG)) throw new Error(`${cfg}: missing (SAELens layout needs ${SAELENS_CFG} beside ${SAELENS_WEIGHTS})`);
    return "saelens";
  }
  if (has(SPARSIFY_WEIGHTS)) {
    if (!has(SAELENS_CFG)) throw new Error(`${cfg}: missing (sparsify layout needs ${SAELENS_CFG} beside ${SPARSIFY_WEIGHTS})`);
    return "sparsify";
  }
  if (has(GEMMA_SCOPE_PARAMS)) return "gemma-scope";
  if (has(LLAMA_SCOPE_HPARAMS)) {
    if (!has(LLAMA_SCOPE_WEIGHTS)) throw new Error(`${join(abs, LLAMA_SCOPE_WEIGHTS)}: missing (Llama Scope layout needs it beside ${LLAMA_SCOPE_HPARAMS})`);
    return "llama-scope";
  }
  const files = readdirSync(abs).sort();
  const shown = files.length > 20 ? [...files.slice(0, 20), `... (${files.length} entries)`] : files;
  const inside = saeFoldersBelow(abs);
  throw new Error(
    `${abs}: no SAE found: expected ${NEEDS.join(", or ")}; found ${shown.length ? shown.join(", ") : "nothing"}` +
      (inside.length ? `; SAE folders below it: ${inside.join(", ")}, ... (pass one of them)` : ""),
  );
}

/** Up to `limit` folders under `dir` (at most `depth` levels down) holding an SAE's marker file. */
function saeFoldersBelow(dir: string, depth = 3, limit = 3): string[] {
  const found: string[] = [];
  let visited = 0;
  const walk = (rel: string, left: number) => {
    if (left === 0 || found.length >= limit || visited > 500) return;
    let names: string[];
    try {
      names = readdirSync(join(dir, rel)).sort();
    } catch {
      return;
    }
    for (const name of names) {
      if (found.length >= limit || visited++ > 500) return;
      const sub = rel ? join(rel, name) : name;
      let isDir = false;
      try {
        isDir = statSync(join(dir, sub)).isDirectory();
      } catch {
        continue;
      }
      if (!isDir) continue;
      if (MARKERS.some((m) => existsSync(join(dir, sub, m)))) found.push(sub);
      else walk(sub, left - 1);
    }
  };
  walk("", depth);
  return found;
}

/**
 * Loads the SAE at `path` (a folder; or a Gemma Scope .npz file), whatever its
 * layout, and checks it fits the model when `dModel` / `nLayers` are given.
 */
export function loadSae(path: string, opts: LoadSaeOptions = {}): Sae {
  const abs = resolve(path);
  const fit: ModelFit = { dModel: opts.dModel, nLayers: opts.nLayers };
  const loaded = LOADERS[detectSaeLayout(abs)](abs, fit);
  checkFit(fit, loaded.sae.dIn, loaded.dInFrom, loaded.sae.layer, loaded.layerFrom);
  return loaded.sae;
}
