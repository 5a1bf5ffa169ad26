/**
 * Gemma Scope layout (google/gemma-scope-2b-pt-res and its siblings): one
 * `params.npz` per SAE, at `layer_L/width_W/average_l0_N/params.npz`, holding
 * `W_enc` [d_in, d_sae], `W_dec` [d_sae, d_in], `b_enc` [d_sae], `b_dec` [d_in]
 * and `threshold` [d_sae] (float32), with an `hparams.json` beside it that we
 * do not need.
 *
 * JumpReLU, and nothing is subtracted from the input; the Gemma Scope tutorial's
 * JumpReLUSAE (the same keys, loaded with load_state_dict) encodes
 *   pre = x @ W_enc + b_enc;  f = (pre > threshold) * relu(pre);  x̂ = f @ W_dec + b_dec
 * which is encode.ts's JumpReLU with applyBDecToInput false. SAELens' conversion
 * (sae_lens/loading/pretrained_sae_loaders.py, get_gemma_2_config_from_hf) says
 * the same: `architecture: "jumprelu"`, `apply_b_dec_to_input: false`, and, for
 * the `-res` repos, `hook_name: blocks.L.hook_resid_post` with L from the
 * folder's `layer_L` (the tutorial hooks the output of model.layers[L]): the
 * output of block L, our layer L. It also renames `w_*` keys to `W_*` and
 * multiplies a `scaling_factor` into the activations before decoding; both are
 * accepted here (the factor folded into W_dec's rows).
 *
 * The layer comes from the last `layer_L` among the four folders above the
 * file. The repo name, when the path has it (`gemma-scope-2b-pt-res`, or the
 * Hugging Face cache's `models--google--gemma-scope-2b-pt-res`), tells the
 * site: `-res` is the residual stream; `-mlp`, `-att` and `-transcoders` read
 * other sites and are refused, as is an `embedding` SAE (an `embedding` folder
 * in place of `layer_L`). A path without the repo name is read as a
 * residual-stream SAE, and the format says so.
 */
import { existsSync, statSync } from "node:fs";
import { basename, join, sep } from "node:path";
import type { NpyArray } from "../npy.ts";
import { readNpz } from "../npz.ts";
import type { Sae } from "../types.ts";
import { checkFit, type LoadedSae, type ModelFit } from "./common.ts";

export const GEMMA_SCOPE_PARAMS = "params.npz";

/** The params.npz of a Gemma Scope folder, or the .npz file itself. */
export function gemmaScopeParamsFile(path: string): string {
  return existsSync(path) && statSync(path).isFile() ? path : join(path, GEMMA_SCOPE_PARAMS);
}

const SITES: Record<string, string> = {
  mlp: "the MLP output (blocks.L.hook_mlp_out)",
  att: "the attention output before its projection (blocks.L.attn.hook_z)",
  transcoders: "an MLP transcoder (MLP input to MLP output)",
};

/** Layer and site from the path's components (see the file comment). */
function fromPath(file: string): { layer?: number; layerFrom?: string; residualKnown: boolean } {
  const parts = file.split(sep);
  const dirs = parts.slice(-5, -1); // the release's layer_L/width_W/average_l0_N folders, and a little above
  let residualKnown = false;
  for (const part of parts) {
    const m = /gemma-scope-.+-(res|mlp|att|transcoders)(-canonical)?$/.exec(part);
    if (!m) continue;
    if (m[1] !== "res") {
      throw new Error(`${file}: path component "${part}": this SAE reads ${SITES[m[1]]}, not the residual stream that steering hooks read (use a gemma-scope-*-res SAE)`);
    }
    residualKnown = true;
  }
  if (dirs.includes("embedding")) {
    throw new Error(`${file}: path component "embedding": an SAE on the embeddings (hook_embed) is not on the output of a block`);
  }
  for (let i = dirs.length - 1; i >= 0; i--) {
    const m = /^layer_(\d+)$/.exec(dirs[i]);
    if (m) return { layer: Number(m[1]), layerFrom: `${file}: path component "${dirs[i]}"`, residualKnown };
  }
  return { residualKnown };
}

function entry(arrays: Map<string, NpyArray>, key: string, shape: number[], names: string, file: string, entries: string[]): Float32Array {
  const a = arrays.get(key) ?? arrays.get(key.replace(/^W_/, "w_"));
  if (!a) throw new Error(`${file}: missing entry "${key}.npy" (found: ${entries.join(", ") || "none"})`);
  const ok = a.shape.length === shape.length && a.shape.every((s, i) => s === shape[i]);
  if (!ok) throw new Error(`${file}: entry "${key}.npy" has shape [${a.shape.join(", ")}], expected [${names}] = [${shape.join(", ")}]`);
  return a.data;
}

/** Loads a Gemma Scope SAE from its folder or its params.npz. */
export function loadGemmaScope(path: string, fit: ModelFit = {}): LoadedSae {
  const file = gemmaScopeParamsFile(path);
  const { layer, layerFrom, residualKnown } = fromPath(file);
  checkFit({ nLayers: fit.nLayers }, 0, "", layer, layerFrom); // before reading the weights
  const { arrays, entries } = readNpz(file);
  const enc = arrays.get("W_enc") ?? arrays.get("w_enc");
  if (!enc) throw new Error(`${file}: missing entry "W_enc.npy" (found: ${entries.join(", ") || "none"})`);
  const encName = arrays.has("W_enc") ? "W_enc.npy" : "w_enc.npy";
  if (enc.shape.length !== 2) throw new Error(`${file}: entry "${encName}" has shape [${enc.shape.join(", ")}], expected [d_in, d_sae]`);
  const [dIn, dSae] = enc.shape;
  const dInFrom = `${file}: entry "${encName}" has shape [${dIn}, ${dSae}], so d_in is ${dIn}`;
  checkFit(fit, dIn, dInFrom, layer, layerFrom);
  if (arrays.has("W_skip") || arrays.has("w_skip")) throw new Error(`${file}: entry "W_skip.npy": skip transcoders are not supported`);

  const wDec = entry(arrays, "W_dec", [dSae, dIn], "d_sae, d_in", file, entries);
  const bEnc = entry(arrays, "b_enc", [dSae], "d_sae", file, entries);
  const bDec = entry(arrays, "b_dec", [dIn], "d_in", file, entries);
  const threshold = entry(arrays, "threshold", [dSae], "d_sae", file, entries);
  let folded = "";
  if (arrays.has("scaling_factor")) {
    const sf = entry(arrays, "scaling_factor", [dSae], "d_sae", file, entries);
    if (sf.some((v) => v !== 1)) {
      for (let i = 0; i < dSae; i++) for (let j = 0; j < dIn; j++) wDec[i * dIn + j] *= sf[i];
      folded = "; scaling_factor folded into W_dec";
    }
  }
  const sae: Sae = {
    architecture: "jumprelu", dIn, dSae, wEnc: enc.data, bEnc, wDec, bDec, threshold,
    applyBDecToInput: false, layer, source: file,
    format:
      `Gemma Scope ${basename(file)}` +
      (residualKnown ? "" : " (no gemma-scope-*-res repo name in the path: read as a residual-stream SAE)") +
      folded,
    hook: layer !== undefined ? `blocks.${layer}.hook_resid_post` : undefined,
  };
  return { sae, dInFrom, layerFrom };
}
