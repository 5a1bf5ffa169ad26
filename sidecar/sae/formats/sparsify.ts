/**
 * EleutherAI sparsify layout: `cfg.json` (`k`, `num_latents` or
 * `expansion_factor`, `d_in`) + `sae.safetensors` with `encoder.weight`
 * [d_sae, d_in], `encoder.bias` [d_sae], `W_dec` [d_sae, d_in], `b_dec` [d_in].
 * Always TopK, and sparsify subtracts b_dec from the input. Its folder is named
 * after the hookpoint: `layers.L` (or `model.layers.L`) is the output of block L.
 */
import { basename, join } from "node:path";
import type { Sae } from "../types.ts";
import { checkFit, positiveInt, readJsonObject, readTensors, shaped, transpose, type LoadedSae, type ModelFit } from "./common.ts";

export const SPARSIFY_CFG = "cfg.json";
export const SPARSIFY_WEIGHTS = "sae.safetensors";

export function loadSparsify(dir: string, fit: ModelFit = {}): LoadedSae {
  const cfgFile = join(dir, SPARSIFY_CFG);
  const weightsFile = join(dir, SPARSIFY_WEIGHTS);
  const cfg = readJsonObject(cfgFile);
  const k = positiveInt(cfg, "k", cfgFile)!;
  if (cfg.skip_connection === true) throw new Error(`${cfgFile}: field "skip_connection" is true: skip-connection SAEs (transcoders) are not supported`);
  const m = /^(?:model\.)?layers\.(\d+)$/.exec(basename(dir));
  const layer = m ? Number(m[1]) : undefined;
  const layerFrom = m ? `${dir}: folder name "${basename(dir)}"` : undefined;
  let dIn = positiveInt(cfg, "d_in", cfgFile, false);
  if (dIn !== undefined) checkFit(fit, dIn, `${cfgFile}: field "d_in" is ${dIn}`, layer, layerFrom);

  const tensors = readTensors(weightsFile);
  if (tensors.has("W_skip")) throw new Error(`${weightsFile}: tensor "W_skip": skip-connection SAEs (transcoders) are not supported`);
  let dInFrom = `${cfgFile}: field "d_in" is ${dIn}`;
  if (dIn === undefined) {
    const b = tensors.get("b_dec");
    if (!b || b.shape.length !== 1) throw new Error(`${cfgFile}: missing field "d_in" (and ${weightsFile} has no 1-D tensor "b_dec" to infer it from)`);
    dIn = b.shape[0];
    dInFrom = `${weightsFile}: tensor "b_dec" has shape [${dIn}], so d_in is ${dIn}`;
    checkFit(fit, dIn, dInFrom, layer, layerFrom);
  }
  let dSae = cfg.num_latents === 0 ? undefined : positiveInt(cfg, "num_latents", cfgFile, false);
  if (dSae === undefined) {
    const ef = positiveInt(cfg, "expansion_factor", cfgFile, false);
    if (ef === undefined) throw new Error(`${cfgFile}: missing field "num_latents" (or "expansion_factor")`);
    dSae = ef * dIn;
  }
  if (k > dSae) throw new Error(`${cfgFile}: field "k" is ${k}, more than the ${dSae} latents`);
  const encW = shaped(tensors, "encoder.weight", [dSae, dIn], "num_latents, d_in", weightsFile);
  const bEnc = shaped(tensors, "encoder.bias", [dSae], "num_latents", weightsFile);
  const wDec = shaped(tensors, "W_dec", [dSae, dIn], "num_latents, d_in", weightsFile);
  const bDec = shaped(tensors, "b_dec", [dIn], "d_in", weightsFile);
  const sae: Sae = {
    architecture: "topk", dIn, dSae, wEnc: transpose(encW, dSae, dIn), bEnc, wDec, bDec, k,
    applyBDecToInput: true, layer, source: dir,
    format: `EleutherAI sparsify ${SPARSIFY_CFG} + ${SPARSIFY_WEIGHTS}`,
    hook: m ? basename(dir) : undefined,
  };
  return { sae, dInFrom, layerFrom };
}
