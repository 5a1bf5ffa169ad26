/**
 * Loading and saving sparse autoencoders.
 *
 * Layouts (detected from the files in the folder):
 *
 * - SAELens: `cfg.json` + `sae_weights.safetensors` with `W_enc` [d_in, d_sae],
 *   `W_dec` [d_sae, d_in], `b_enc` [d_sae], `b_dec` [d_in] and, for JumpReLU,
 *   `threshold` [d_sae] (older JumpReLU files store `log_threshold`, exp'd here).
 *   Architecture: cfg `architecture` ("standard" | "relu" | "jumprelu" | "topk";
 *   missing = "standard"), and a standard SAE whose `activation_fn` (older:
 *   `activation_fn_str`) is "topk" is TopK with k from `activation_fn_kwargs.k`
 *   (or a top-level `k`). `apply_b_dec_to_input` (default true), `d_in`, `d_sae`,
 *   and the layer from `hook_name` (older: `hook_point`):
 *   `blocks.L.hook_resid_post` -> L, `blocks.L.hook_resid_pre` -> L - 1
 *   (DESIGN.md's convention: layer L = output of block L).
 *   Activation normalisation other than none is rejected (its scale is not in the files).
 *
 * - EleutherAI sparsify: `cfg.json` (`k`, `num_latents` or `expansion_factor`,
 *   `d_in`) + `sae.safetensors` with `encoder.weight` [d_sae, d_in],
 *   `encoder.bias` [d_sae], `W_dec` [d_sae, d_in], `b_dec` [d_in]. Always TopK,
 *   and sparsify subtracts b_dec from the input. Its folder is named after the
 *   hookpoint: `layers.L` (or `model.layers.L`) is the output of block L.
 *
 * Every error names the file and the field or tensor at fault.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { readSafetensors, writeSafetensors, type Tensor, type WriteTensor } from "../model/safetensors.ts";
import type { Sae, SaeArchitecture } from "./types.ts";

export const SAELENS_CFG = "cfg.json";
export const SAELENS_WEIGHTS = "sae_weights.safetensors";
export const SPARSIFY_WEIGHTS = "sae.safetensors";

export interface LoadSaeOptions {
  /** The model's residual width: the SAE's d_in must equal it. */
  dModel?: number;
}

export type SaeLayout = "saelens" | "sparsify";

/** Which layout a folder holds (throws, listing what is there, when neither). */
export function detectSaeLayout(dir: string): SaeLayout {
  const abs = resolve(dir);
  if (!existsSync(abs)) throw new Error(`${abs}: SAE folder not found`);
  const cfg = join(abs, SAELENS_CFG);
  if (existsSync(join(abs, SAELENS_WEIGHTS))) {
    if (!existsSync(cfg)) throw new Error(`${cfg}: missing (SAELens layout needs cfg.json beside ${SAELENS_WEIGHTS})`);
    return "saelens";
  }
  if (existsSync(join(abs, SPARSIFY_WEIGHTS))) {
    if (!existsSync(cfg)) throw new Error(`${cfg}: missing (sparsify layout needs cfg.json beside ${SPARSIFY_WEIGHTS})`);
    return "sparsify";
  }
  let files: string[] = [];
  try {
    files = readdirSync(abs);
  } catch {
    throw new Error(`${abs}: not a folder (an SAE is a folder with cfg.json + ${SAELENS_WEIGHTS} or ${SPARSIFY_WEIGHTS})`);
  }
  throw new Error(
    `${abs}: no SAE found: expected cfg.json + ${SAELENS_WEIGHTS} (SAELens) or cfg.json + ${SPARSIFY_WEIGHTS} (EleutherAI sparsify); ` +
      `found ${files.length ? files.join(", ") : "nothing"}`,
  );
}

/** Loads an SAE folder in SAELens or sparsify layout. */
export function loadSae(dir: string, opts: LoadSaeOptions = {}): Sae {
  const abs = resolve(dir);
  const sae = detectSaeLayout(abs) === "saelens" ? loadSaeLens(abs) : loadSparsify(abs);
  if (opts.dModel !== undefined && sae.dIn !== opts.dModel) {
    throw new Error(`${join(abs, SAELENS_CFG)}: field "d_in" is ${sae.dIn}, but the model's d_model is ${opts.dModel}`);
  }
  return sae;
}

/** The cfg.json of an SAE folder, parsed (any layout). */
export function readSaeCfg(dir: string): Record<string, unknown> {
  const file = join(resolve(dir), SAELENS_CFG);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new Error(`${file}: cannot read JSON (${(e as Error).message})`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw new Error(`${file}: not a JSON object`);
  return json as Record<string, unknown>;
}

function positiveInt(cfg: Record<string, unknown>, field: string, file: string, required = true): number | undefined {
  const v = cfg[field];
  if (v === undefined || v === null) {
    if (required) throw new Error(`${file}: missing field "${field}"`);
    return undefined;
  }
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1) throw new Error(`${file}: field "${field}" must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

function tensor(tensors: Map<string, Tensor>, name: string, shape: number[], names: string, file: string): Float32Array {
  const t = tensors.get(name);
  if (!t) throw new Error(`${file}: missing tensor "${name}" (found: ${[...tensors.keys()].join(", ") || "none"})`);
  const ok = t.shape.length === shape.length && t.shape.every((s, i) => s === shape[i]);
  if (!ok) throw new Error(`${file}: tensor "${name}" has shape [${t.shape.join(", ")}], expected [${names}] = [${shape.join(", ")}]`);
  return t.data;
}

function readTensors(file: string): Map<string, Tensor> {
  try {
    return readSafetensors(file);
  } catch (e) {
    const msg = (e as Error).message;
    throw new Error(msg.startsWith(file) ? msg : `${file}: ${msg}`);
  }
}

/** SAELens hook name -> layer in DESIGN.md's convention (undefined for other hook points). */
export function layerFromHookName(hookName: string, file: string): number | undefined {
  const m = /^blocks\.(\d+)\.hook_resid_(post|pre)$/.exec(hookName);
  if (!m) return undefined;
  const block = Number(m[1]);
  if (m[2] === "post") return block;
  if (block === 0) throw new Error(`${file}: field "hook_name" is ${hookName}: the input of block 0 (the embeddings) is not a hookable residual layer`);
  return block - 1;
}

function loadSaeLens(dir: string): Sae {
  const cfgFile = join(dir, SAELENS_CFG);
  const weightsFile = join(dir, SAELENS_WEIGHTS);
  const cfg = readSaeCfg(dir);
  const dIn = positiveInt(cfg, "d_in", cfgFile)!;
  const dSae = positiveInt(cfg, "d_sae", cfgFile)!;

  const archField = cfg.architecture ?? "standard";
  if (typeof archField !== "string") throw new Error(`${cfgFile}: field "architecture" must be a string, got ${JSON.stringify(archField)}`);
  const actField = cfg.activation_fn ?? cfg.activation_fn_str;
  const act = typeof actField === "string" ? actField.toLowerCase() : undefined;
  let architecture: SaeArchitecture;
  switch (archField.toLowerCase()) {
    case "standard":
    case "relu":
      if (act === undefined || act === "relu") architecture = "relu";
      else if (act === "topk") architecture = "topk";
      else throw new Error(`${cfgFile}: field "activation_fn" is ${JSON.stringify(actField)}: unknown activation (supported: relu, topk)`);
      break;
    case "jumprelu":
      architecture = "jumprelu";
      break;
    case "topk":
      architecture = "topk";
      break;
    default:
      throw new Error(`${cfgFile}: field "architecture" is ${JSON.stringify(archField)}: unknown architecture (supported: standard, relu, jumprelu, topk)`);
  }

  let k: number | undefined;
  if (architecture === "topk") {
    const kwargs = cfg.activation_fn_kwargs;
    const fromKwargs = kwargs && typeof kwargs === "object" ? (kwargs as Record<string, unknown>).k : undefined;
    if (fromKwargs !== undefined) k = positiveInt({ "activation_fn_kwargs.k": fromKwargs }, "activation_fn_kwargs.k", cfgFile);
    else k = positiveInt(cfg, "k", cfgFile, false);
    if (k === undefined) throw new Error(`${cfgFile}: missing field "activation_fn_kwargs.k" (the k of a TopK SAE)`);
    if (k > dSae) throw new Error(`${cfgFile}: field "activation_fn_kwargs.k" is ${k}, more than d_sae = ${dSae}`);
  }

  const norm = cfg.normalize_activations;
  if (norm !== undefined && norm !== null && norm !== "none") {
    throw new Error(`${cfgFile}: field "normalize_activations" is ${JSON.stringify(norm)}: only "none" is supported (the scale is not stored with the weights)`);
  }
  const applyField = cfg.apply_b_dec_to_input ?? true;
  if (typeof applyField !== "boolean") throw new Error(`${cfgFile}: field "apply_b_dec_to_input" must be true or false, got ${JSON.stringify(applyField)}`);

  const hookField = cfg.hook_name ?? cfg.hook_point;
  let layer: number | undefined;
  if (hookField !== undefined && hookField !== null) {
    if (typeof hookField !== "string") throw new Error(`${cfgFile}: field "hook_name" must be a string, got ${JSON.stringify(hookField)}`);
    layer = layerFromHookName(hookField, cfgFile);
  }

  const tensors = readTensors(weightsFile);
  const wEnc = tensor(tensors, "W_enc", [dIn, dSae], "d_in, d_sae", weightsFile);
  const wDec = tensor(tensors, "W_dec", [dSae, dIn], "d_sae, d_in", weightsFile);
  const bEnc = tensor(tensors, "b_enc", [dSae], "d_sae", weightsFile);
  const bDec = tensor(tensors, "b_dec", [dIn], "d_in", weightsFile);
  let threshold: Float32Array | undefined;
  if (architecture === "jumprelu") {
    if (tensors.has("threshold")) threshold = tensor(tensors, "threshold", [dSae], "d_sae", weightsFile);
    else if (tensors.has("log_threshold")) threshold = tensor(tensors, "log_threshold", [dSae], "d_sae", weightsFile).map((v) => Math.exp(v));
    else throw new Error(`${weightsFile}: missing tensor "threshold" (a JumpReLU SAE needs it; found: ${[...tensors.keys()].join(", ")})`);
  }
  return {
    architecture, dIn, dSae, wEnc, bEnc, wDec, bDec, threshold, k,
    applyBDecToInput: applyField, layer, source: dir,
  };
}

function loadSparsify(dir: string): Sae {
  const cfgFile = join(dir, SAELENS_CFG);
  const weightsFile = join(dir, SPARSIFY_WEIGHTS);
  const cfg = readSaeCfg(dir);
  const tensors = readTensors(weightsFile);
  const k = positiveInt(cfg, "k", cfgFile)!;
  if (cfg.skip_connection === true || tensors.has("W_skip")) throw new Error(`${cfgFile}: field "skip_connection" is true: skip-connection SAEs (transcoders) are not supported`);
  let dIn = positiveInt(cfg, "d_in", cfgFile, false);
  if (dIn === undefined) {
    const b = tensors.get("b_dec");
    if (!b || b.shape.length !== 1) throw new Error(`${cfgFile}: missing field "d_in" (and ${weightsFile} has no 1-D tensor "b_dec" to infer it from)`);
    dIn = b.shape[0];
  }
  let dSae = cfg.num_latents === 0 ? undefined : positiveInt(cfg, "num_latents", cfgFile, false);
  if (dSae === undefined) {
    const ef = positiveInt(cfg, "expansion_factor", cfgFile, false);
    if (ef === undefined) throw new Error(`${cfgFile}: missing field "num_latents" (or "expansion_factor")`);
    dSae = ef * dIn;
  }
  if (k > dSae) throw new Error(`${cfgFile}: field "k" is ${k}, more than the ${dSae} latents`);
  const encW = tensor(tensors, "encoder.weight", [dSae, dIn], "num_latents, d_in", weightsFile);
  const bEnc = tensor(tensors, "encoder.bias", [dSae], "num_latents", weightsFile);
  const wDec = tensor(tensors, "W_dec", [dSae, dIn], "num_latents, d_in", weightsFile);
  const bDec = tensor(tensors, "b_dec", [dIn], "d_in", weightsFile);
  // encoder.weight is [d_sae, d_in]; our W_enc is [d_in, d_sae].
  const wEnc = new Float32Array(dIn * dSae);
  for (let j = 0; j < dSae; j++) for (let i = 0; i < dIn; i++) wEnc[i * dSae + j] = encW[j * dIn + i];
  const m = /^(?:model\.)?layers\.(\d+)$/.exec(basename(dir));
  return {
    architecture: "topk", dIn, dSae, wEnc, bEnc, wDec, bDec, k,
    applyBDecToInput: true, layer: m ? Number(m[1]) : undefined, source: dir,
  };
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
