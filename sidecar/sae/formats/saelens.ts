/**
 * SAELens layout: `cfg.json` + `sae_weights.safetensors` with `W_enc` [d_in, d_sae],
 * `W_dec` [d_sae, d_in], `b_enc` [d_sae], `b_dec` [d_in] and, for JumpReLU,
 * `threshold` [d_sae] (older files: `log_threshold`, exp'd here).
 *
 * Both cfg.json shapes SAELens has written (sae_lens/saes/sae.py, SAEConfig.to_dict;
 * sae_lens/loading/pretrained_sae_loaders.py, handle_pre_6_0_config):
 * - before 6.0: flat, `hook_name` (older: `hook_point`), `activation_fn` (older:
 *   `activation_fn_str`), `activation_fn_kwargs.k`, `normalize_activations`
 *   (older: a boolean), `finetuning_scaling_factor`, `model_name`;
 * - 6.x: `architecture`, `d_in`, `d_sae`, `apply_b_dec_to_input`,
 *   `normalize_activations`, `k` and `rescale_acts_by_decoder_norm` (TopK), and
 *   `metadata` { `hook_name`, `hook_name_out`, `model_name`, `sae_lens_version` }.
 * SAELens' own conversions of Gemma Scope and Llama Scope saved this way are
 * `architecture: "jumprelu"`, `apply_b_dec_to_input: false`,
 * `normalize_activations: "none"` (Llama Scope's input scale already folded in).
 *
 * Folded into the weights so that encode.ts computes SAELens' forward exactly:
 * - `normalize_activations: "expected_average_only_in"` with the training scale s
 *   in `activation_scaler.json` (`{"scaling_factor": s}`, SAELens' trainer
 *   checkpoints): SAELens' fold_activation_norm_scaling_factor, W_enc * s,
 *   W_dec / s, b_dec / s. Without that file the scale is not in the files: refused.
 * - `finetuning_scaling_factor` (tensor `scaling_factor` [d_sae], multiplying
 *   the activations before decoding): into the rows of W_dec.
 * - TopK `rescale_acts_by_decoder_norm` (top-k over pre * |W_dec row|, decode
 *   f / |W_dec row|): W_enc columns and b_enc times the row norms, W_dec rows
 *   divided by them (SAELens' fold_W_dec_norm for TopK).
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { writeSafetensors, type WriteTensor } from "../../model/safetensors.ts";
import type { Sae, SaeArchitecture } from "../types.ts";
import { boolField, checkFit, layerFromHookName, positiveInt, readJsonObject, readTensors, shaped, type LoadedSae, type ModelFit } from "./common.ts";

export const SAELENS_CFG = "cfg.json";
export const SAELENS_WEIGHTS = "sae_weights.safetensors";
export const SAELENS_SCALER = "activation_scaler.json";

/** The cfg.json of an SAE folder, parsed (any layout that has one). */
export function readSaeCfg(dir: string): Record<string, unknown> {
  return readJsonObject(join(resolve(dir), SAELENS_CFG));
}

/** A field at the top level, or else in SAELens 6's `metadata`; `name` is how errors spell it. */
function field(cfg: Record<string, unknown>, key: string): { value: unknown; name: string } {
  if (cfg[key] !== undefined && cfg[key] !== null) return { value: cfg[key], name: key };
  const meta = cfg.metadata;
  if (meta && typeof meta === "object" && !Array.isArray(meta)) {
    const v = (meta as Record<string, unknown>)[key];
    if (v !== undefined && v !== null) return { value: v, name: `metadata.${key}` };
  }
  return { value: undefined, name: key };
}

function architectureOf(cfg: Record<string, unknown>, cfgFile: string): SaeArchitecture {
  const archField = cfg.architecture ?? "standard";
  if (typeof archField !== "string") throw new Error(`${cfgFile}: field "architecture" must be a string, got ${JSON.stringify(archField)}`);
  const actField = cfg.activation_fn ?? cfg.activation_fn_str;
  const actName = cfg.activation_fn !== undefined ? "activation_fn" : "activation_fn_str";
  const act = typeof actField === "string" ? actField.toLowerCase() : undefined;
  switch (archField.toLowerCase()) {
    case "standard":
    case "relu":
      if (act === undefined || act === "relu") return "relu";
      if (act === "topk") return "topk";
      throw new Error(`${cfgFile}: field "${actName}" is ${JSON.stringify(actField)}: unknown activation (supported: relu, topk)`);
    case "jumprelu":
      return "jumprelu";
    case "topk":
      return "topk";
    default:
      throw new Error(`${cfgFile}: field "architecture" is ${JSON.stringify(archField)}: unknown architecture (supported: standard, relu, jumprelu, topk)`);
  }
}

function topK(cfg: Record<string, unknown>, dSae: number, cfgFile: string): number {
  const kwargs = cfg.activation_fn_kwargs;
  const fromKwargs = kwargs && typeof kwargs === "object" ? (kwargs as Record<string, unknown>).k : undefined;
  const name = fromKwargs !== undefined ? "activation_fn_kwargs.k" : "k";
  const k = fromKwargs !== undefined ? positiveInt({ [name]: fromKwargs }, name, cfgFile) : positiveInt(cfg, "k", cfgFile, false);
  if (k === undefined) throw new Error(`${cfgFile}: missing field "activation_fn_kwargs.k" (the k of a TopK SAE; SAELens 6: "k")`);
  if (k > dSae) throw new Error(`${cfgFile}: field "${name}" is ${k}, more than d_sae = ${dSae}`);
  return k;
}

/** The input scale SAELens trained with, when normalize_activations needs one (undefined: none). */
function inputScale(cfg: Record<string, unknown>, dir: string, cfgFile: string): number | undefined {
  let norm = cfg.normalize_activations;
  if (norm === undefined || norm === null || norm === false || norm === "none") return undefined;
  if (norm === true) norm = "expected_average_only_in"; // SAELens < 6 wrote a boolean
  if (norm !== "expected_average_only_in") {
    throw new Error(
      `${cfgFile}: field "normalize_activations" is ${JSON.stringify(cfg.normalize_activations)}: ` +
        `a per-token normalisation cannot be folded into the weights (supported: "none", "expected_average_only_in" with ${SAELENS_SCALER})`,
    );
  }
  const scalerFile = join(dir, SAELENS_SCALER);
  if (!existsSync(scalerFile)) {
    throw new Error(
      `${cfgFile}: field "normalize_activations" is "expected_average_only_in", but the input scale is not in the files ` +
        `(no ${SAELENS_SCALER} beside it); fold it into the weights first (SAELens: sae.fold_activation_norm_scaling_factor)`,
    );
  }
  const s = readJsonObject(scalerFile).scaling_factor;
  if (typeof s !== "number" || !(s > 0) || !Number.isFinite(s)) throw new Error(`${scalerFile}: field "scaling_factor" must be a positive number, got ${JSON.stringify(s)}`);
  return s;
}

export function loadSaeLens(dir: string, fit: ModelFit = {}): LoadedSae {
  const cfgFile = join(dir, SAELENS_CFG);
  const weightsFile = join(dir, SAELENS_WEIGHTS);
  const cfg = readJsonObject(cfgFile);
  const dIn = positiveInt(cfg, "d_in", cfgFile)!;
  const dSae = positiveInt(cfg, "d_sae", cfgFile)!;
  const dInFrom = `${cfgFile}: field "d_in" is ${dIn}`;

  const hook = cfg.hook_name !== undefined ? field(cfg, "hook_name") : cfg.hook_point !== undefined ? field(cfg, "hook_point") : field(cfg, "hook_name");
  let hookName: string | undefined;
  let layer: number | undefined;
  if (hook.value !== undefined) {
    if (typeof hook.value !== "string") throw new Error(`${cfgFile}: field "${hook.name}" must be a string, got ${JSON.stringify(hook.value)}`);
    hookName = hook.value;
    const out = field(cfg, "hook_name_out");
    if (out.value !== undefined && out.value !== hookName) {
      throw new Error(`${cfgFile}: field "${out.name}" is ${JSON.stringify(out.value)}, not the input hook ${JSON.stringify(hookName)}: transcoders are not supported`);
    }
    layer = layerFromHookName(hookName, cfgFile, hook.name);
  }
  const layerFrom = hookName !== undefined ? `${cfgFile}: field "${hook.name}" is ${JSON.stringify(hookName)}` : undefined;
  checkFit(fit, dIn, dInFrom, layer, layerFrom);

  const architecture = architectureOf(cfg, cfgFile);
  const k = architecture === "topk" ? topK(cfg, dSae, cfgFile) : undefined;
  const scale = inputScale(cfg, dir, cfgFile);
  const applyBDecToInput = boolField(cfg, "apply_b_dec_to_input", cfgFile, true);
  const rescale = boolField(cfg, "rescale_acts_by_decoder_norm", cfgFile, false);
  if (rescale && architecture !== "topk") throw new Error(`${cfgFile}: field "rescale_acts_by_decoder_norm" is true for a ${architecture} SAE (SAELens has it for TopK only)`);
  const finetuning = boolField(cfg, "finetuning_scaling_factor", cfgFile, false);

  const tensors = readTensors(weightsFile);
  const wEnc = shaped(tensors, "W_enc", [dIn, dSae], "d_in, d_sae", weightsFile);
  const wDec = shaped(tensors, "W_dec", [dSae, dIn], "d_sae, d_in", weightsFile);
  const bEnc = shaped(tensors, "b_enc", [dSae], "d_sae", weightsFile);
  const bDec = shaped(tensors, "b_dec", [dIn], "d_in", weightsFile);
  let threshold: Float32Array | undefined;
  if (architecture === "jumprelu") {
    if (tensors.has("threshold")) threshold = shaped(tensors, "threshold", [dSae], "d_sae", weightsFile);
    else if (tensors.has("log_threshold")) threshold = shaped(tensors, "log_threshold", [dSae], "d_sae", weightsFile).map((v) => Math.exp(v));
    else throw new Error(`${weightsFile}: missing tensor "threshold" (a JumpReLU SAE needs it; found: ${[...tensors.keys()].join(", ")})`);
  }

  const notes: string[] = [];
  if (finetuning) {
    const name = tensors.has("scaling_factor") ? "scaling_factor" : "finetuning_scaling_factor";
    const sf = shaped(tensors, name, [dSae], "d_sae", weightsFile);
    for (let i = 0; i < dSae; i++) for (let j = 0; j < dIn; j++) wDec[i * dIn + j] *= sf[i];
    notes.push(`${name} folded into W_dec`);
  }
  if (rescale) {
    foldDecoderNorms(wEnc, bEnc, wDec, dIn, dSae);
    notes.push("decoder norms folded (rescale_acts_by_decoder_norm)");
  }
  if (scale !== undefined) {
    for (let n = 0; n < wEnc.length; n++) wEnc[n] *= scale;
    for (let n = 0; n < wDec.length; n++) wDec[n] /= scale;
    for (let n = 0; n < dIn; n++) bDec[n] /= scale;
    notes.push(`input scale ${scale} from ${SAELENS_SCALER} folded`);
  }

  const version = field(cfg, "sae_lens_version").value;
  const model = field(cfg, "model_name").value;
  const format =
    `SAELens${typeof version === "string" ? ` ${version}` : ""} ${SAELENS_CFG} + ${SAELENS_WEIGHTS}` +
    (typeof model === "string" && model ? `, model ${model}` : "") +
    (notes.length ? `; ${notes.join("; ")}` : "");
  const sae: Sae = {
    architecture, dIn, dSae, wEnc, bEnc, wDec, bDec, threshold, k,
    applyBDecToInput, layer, source: dir, format, hook: hookName,
  };
  return { sae, dInFrom, layerFrom };
}

/**
 * Scales feature i by n_i = |W_dec[i, :]|: W_enc[:, i] and b_enc[i] times n_i,
 * W_dec[i, :] divided by it (a zero row leaves the feature dead: all zero).
 */
export function foldDecoderNorms(wEnc: Float32Array, bEnc: Float32Array, wDec: Float32Array, dIn: number, dSae: number): void {
  for (let i = 0; i < dSae; i++) {
    let sq = 0;
    for (let j = 0; j < dIn; j++) sq += wDec[i * dIn + j] ** 2;
    const n = Math.sqrt(sq);
    for (let j = 0; j < dIn; j++) {
      wEnc[j * dSae + i] *= n;
      if (n > 0) wDec[i * dIn + j] /= n;
    }
    bEnc[i] *= n;
  }
}

/** SAELens architecture name of ours. */
function saeLensArchitecture(a: SaeArchitecture): string {
  return a === "relu" ? "standard" : a;
}

/**
 * Writes an SAE in SAELens layout (cfg.json + sae_weights.safetensors, f32).
 * `extraCfg` is merged into cfg.json last (metadata: model id, tokens, FVE, ...),
 * but cannot override the fields that describe the weights.
 */
export function saveSaeLens(dir: string, sae: Sae, extraCfg: Record<string, unknown> = {}): void {
  const abs = resolve(dir);
  mkdirSync(abs, { recursive: true });
  const cfg: Record<string, unknown> = {
    ...extraCfg,
    architecture: saeLensArchitecture(sae.architecture),
    d_in: sae.dIn,
    d_sae: sae.dSae,
    dtype: "float32",
    apply_b_dec_to_input: sae.applyBDecToInput,
    normalize_activations: "none",
    activation_fn: sae.architecture === "topk" ? "topk" : "relu",
    activation_fn_kwargs: sae.architecture === "topk" ? { k: sae.k } : {},
  };
  if (sae.layer !== undefined) {
    cfg.hook_name = `blocks.${sae.layer}.hook_resid_post`;
    cfg.hook_layer = sae.layer;
  }
  const tensors: Record<string, WriteTensor> = {
    W_enc: { shape: [sae.dIn, sae.dSae], data: sae.wEnc },
    W_dec: { shape: [sae.dSae, sae.dIn], data: sae.wDec },
    b_enc: { shape: [sae.dSae], data: sae.bEnc },
    b_dec: { shape: [sae.dIn], data: sae.bDec },
  };
  if (sae.architecture === "jumprelu") {
    if (!sae.threshold) throw new Error(`${sae.source}: JumpReLU SAE without threshold`);
    tensors.threshold = { shape: [sae.dSae], data: sae.threshold };
  }
  writeSafetensors(join(abs, SAELENS_WEIGHTS), tensors);
  writeFileSync(join(abs, SAELENS_CFG), JSON.stringify(cfg, null, 2) + "\n");
}
