/**
 * Llama Scope / OpenMOSS lm-saes layout, one SAE per folder (e.g.
 * `fnlp/Llama3_1-8B-Base-LXR-8x/Llama3_1-8B-Base-L15R-8x/`):
 *
 *   hyperparams.json               d_model, d_sae (or expansion_factor), hook_point_in,
 *                                  hook_point_out, act_fn, jump_relu_threshold, top_k,
 *                                  norm_activation, dataset_average_activation_norm {in, out},
 *                                  sparsity_include_decoder_norm, use_decoder_bias,
 *                                  apply_decoder_bias_to_pre_encoder, use_glu_encoder, ...
 *   checkpoints/final.safetensors  encoder.weight [d_sae, d_model], encoder.bias [d_sae],
 *                                  decoder.weight [d_model, d_sae], decoder.bias [d_model]
 *                                  (torch.nn.Linear layout; bf16 in the release)
 *   lm_config.json                 the model (model_name), read for the description only
 *
 * Sources: the released hyperparams.json files on Hugging Face (fnlp/Llama3_1-8B-Base-LXR-8x,
 * -LXR-32x, -LXA-8x, -LXM-8x, -LXTC-8x: act_fn "jumprelu", norm_activation "dataset-wise",
 * sparsity_include_decoder_norm true, apply_decoder_bias_to_pre_encoder false, bf16); the
 * loader the release links (OpenMOSS/Language-Model-SAEs at 4ec6f0a / 5e5527b, Oct 2024,
 * src/lm_saes/sae.py: SparseAutoEncoder.from_config, encode, decode, activation_function_factory;
 * src/lm_saes/config.py: SAEConfig defaults); SAELens' conversion
 * (sae_lens/loading/pretrained_sae_loaders.py, get_llama_scope_config_from_hf and
 * llama_scope_sae_huggingface_loader: encoder.weight.T, decoder.weight.T, its
 * norm_scaling_factor = sqrt(d_model) / dataset_average_activation_norm.in).
 *
 * The math, exactly as OpenMOSS' from_config loads a checkpoint for inference.
 * Stored: E = encoder.weight, c = encoder.bias, D = decoder.weight (column i is
 * feature i's direction), b = decoder.bias, threshold θ (a scalar), d = d_model.
 *
 * 1. norm_activation "dataset-wise": with s_in = sqrt(d) / avg_norm.in and
 *    s_out = sqrt(d) / avg_norm.out, training saw x_n = s_in x and reconstructed
 *    s_out x. OpenMOSS folds this so the model then reads the RAW residual
 *    (standardize_parameters_of_dataset_activation_scaling; norm_activation
 *    becomes "inference", input factor 1):
 *        c1 = c / s_in,   D1 = D s_in / s_out,   b1 = b / s_out,   E unchanged.
 *    Check: E x + c1 = (E (s_in x) + c) / s_in = pre_train / s_in, so features are
 *    the training ones over s_in; D1 (f_train / s_in) + b1 = (D f_train + b) / s_out,
 *    the training reconstruction in raw units. "none" / "inference": s_in = s_out = 1.
 *    "token-wise" / "batch-wise" scale each token by its own norm: not linear, refused.
 * 2. sparsity_include_decoder_norm (transform_to_unit_decoder_norm): with
 *    n_i = |D1[:, i]|,  E2[i, :] = n_i E[i, :],  c2_i = n_i c1_i,  D2[:, i] = D1[:, i] / n_i.
 *    This is what makes the threshold compare against pre_i n_i: OpenMOSS's
 *    JumpReLU is `pre > θ ? pre : 0` on the transformed pre-activation, and its
 *    TopK ranks relu(pre) * |D2 column| = relu(pre) (unit columns). A zero
 *    column (n_i = 0: OpenMOSS would divide by zero) leaves feature i all zero.
 * 3. act_fn "topk" with jump_relu_threshold > 0 becomes "jumprelu" (from_config).
 *
 * Inference forward on the raw residual x, then: x' = x - b1 when use_decoder_bias
 * and apply_decoder_bias_to_pre_encoder, else x; pre = E2 x' + c2; f = act(pre);
 * x̂ = D2 f + b1 (b1 = 0 without use_decoder_bias). Ours (types.ts) with
 *   W_enc = E2ᵀ [d, d_sae],  b_enc = c2,  W_dec = D2ᵀ [d_sae, d],  b_dec = b1,
 *   threshold_i = θ,  applyBDecToInput = use_decoder_bias && apply_decoder_bias_to_pre_encoder
 * is the same function: encode.ts's JumpReLU keeps pre_i when pre_i > θ (and > 0,
 * the same for θ >= 0; a negative θ is refused), its TopK keeps the k largest and
 * then clamps at 0 like relu-then-top-k.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Sae, SaeArchitecture } from "../types.ts";
import { boolField, checkFit, layerFromHookName, positiveInt, readJsonObject, readTensors, shaped, stringField, transpose, type LoadedSae, type ModelFit } from "./common.ts";

export const LLAMA_SCOPE_HPARAMS = "hyperparams.json";
export const LLAMA_SCOPE_WEIGHTS = join("checkpoints", "final.safetensors");
const LM_CONFIG = "lm_config.json";

/** OpenMOSS SAEConfig defaults (src/lm_saes/config.py) for fields a hyperparams.json may omit. */
const DEFAULTS = {
  use_decoder_bias: true,
  apply_decoder_bias_to_pre_encoder: true,
  act_fn: "relu",
  jump_relu_threshold: 0,
  top_k: 50,
  norm_activation: "token-wise",
  sparsity_include_decoder_norm: true,
};

function numberField(cfg: Record<string, unknown>, field: string, file: string, dflt: number): number {
  const v = cfg[field] ?? dflt;
  if (typeof v !== "number" || !Number.isFinite(v)) throw new Error(`${file}: field "${field}" must be a number, got ${JSON.stringify(v)}`);
  return v;
}

/** s_in and s_out of step 1 (see the file comment). */
function normScales(cfg: Record<string, unknown>, dModel: number, file: string): { sIn: number; sOut: number; note?: string } {
  const norm = stringField(cfg, "norm_activation", file) ?? DEFAULTS.norm_activation;
  if (norm === "none" || norm === "inference") return { sIn: 1, sOut: 1 };
  if (norm !== "dataset-wise") {
    throw new Error(
      `${file}: field "norm_activation" is ${JSON.stringify(norm)}: it scales each token by its own norm, which cannot be folded into the weights ` +
        `(supported: "dataset-wise", "inference", "none")`,
    );
  }
  const avg = cfg.dataset_average_activation_norm;
  const part = (key: "in" | "out"): number => {
    const v = avg && typeof avg === "object" ? (avg as Record<string, unknown>)[key] : undefined;
    if (typeof v !== "number" || !(v > 0) || !Number.isFinite(v)) {
      throw new Error(`${file}: field "dataset_average_activation_norm.${key}" must be a positive number for norm_activation "dataset-wise", got ${JSON.stringify(v ?? null)}`);
    }
    return v;
  };
  const avgIn = part("in");
  const avgOut = part("out");
  return { sIn: Math.sqrt(dModel) / avgIn, sOut: Math.sqrt(dModel) / avgOut, note: `dataset-wise norm (in ${avgIn}, out ${avgOut})` };
}

function activation(cfg: Record<string, unknown>, dSae: number, file: string): { architecture: SaeArchitecture; threshold?: number; k?: number } {
  const act = (stringField(cfg, "act_fn", file) ?? DEFAULTS.act_fn).toLowerCase();
  const theta = numberField(cfg, "jump_relu_threshold", file, DEFAULTS.jump_relu_threshold);
  if (act === "relu") return { architecture: "relu" };
  if (act === "jumprelu" || (act === "topk" && theta > 0)) {
    if (theta < 0) throw new Error(`${file}: field "jump_relu_threshold" is ${theta}: a negative threshold lets negative pre-activations through, which this SAE form cannot express`);
    return { architecture: "jumprelu", threshold: theta };
  }
  if (act === "topk") {
    const k = positiveInt({ top_k: cfg.top_k ?? DEFAULTS.top_k }, "top_k", file)!;
    if (k > dSae) throw new Error(`${file}: field "top_k" is ${k}, more than d_sae = ${dSae}`);
    return { architecture: "topk", k };
  }
  throw new Error(`${file}: field "act_fn" is ${JSON.stringify(cfg.act_fn)}: unknown activation (supported: relu, jumprelu, topk)`);
}

function modelName(dir: string): string | undefined {
  const file = join(dir, LM_CONFIG);
  if (!existsSync(file)) return undefined;
  try {
    const name = readJsonObject(file).model_name;
    return typeof name === "string" && name ? name : undefined;
  } catch {
    return undefined; // only for the description
  }
}

export function loadLlamaScope(dir: string, fit: ModelFit = {}): LoadedSae {
  const file = join(dir, LLAMA_SCOPE_HPARAMS);
  const weightsFile = join(dir, LLAMA_SCOPE_WEIGHTS);
  const cfg = readJsonObject(file);
  const dModel = positiveInt(cfg, "d_model", file)!;
  let dSae = positiveInt(cfg, "d_sae", file, false);
  if (dSae === undefined) {
    const ef = positiveInt(cfg, "expansion_factor", file, false);
    if (ef === undefined) throw new Error(`${file}: missing field "d_sae" (or "expansion_factor")`);
    dSae = ef * dModel;
  }
  const hookIn = stringField(cfg, "hook_point_in", file);
  if (hookIn === undefined) throw new Error(`${file}: missing field "hook_point_in"`);
  const hookOut = stringField(cfg, "hook_point_out", file) ?? hookIn;
  if (hookOut !== hookIn) {
    throw new Error(`${file}: field "hook_point_out" is ${JSON.stringify(hookOut)}, not hook_point_in ${JSON.stringify(hookIn)}: transcoders are not supported`);
  }
  const layer = layerFromHookName(hookIn, file, "hook_point_in");
  const dInFrom = `${file}: field "d_model" is ${dModel}`;
  const layerFrom = `${file}: field "hook_point_in" is ${JSON.stringify(hookIn)}`;
  checkFit(fit, dModel, dInFrom, layer, layerFrom);

  if (boolField(cfg, "use_glu_encoder", file, false)) throw new Error(`${file}: field "use_glu_encoder" is true: gated (GLU) encoders are not supported`);
  const { architecture, threshold, k } = activation(cfg, dSae, file);
  const { sIn, sOut, note } = normScales(cfg, dModel, file);
  const useDecoderBias = boolField(cfg, "use_decoder_bias", file, DEFAULTS.use_decoder_bias);
  const biasToEncoder = boolField(cfg, "apply_decoder_bias_to_pre_encoder", file, DEFAULTS.apply_decoder_bias_to_pre_encoder);
  const unitDecoder = boolField(cfg, "sparsity_include_decoder_norm", file, DEFAULTS.sparsity_include_decoder_norm);

  if (!existsSync(weightsFile)) throw new Error(`${weightsFile}: missing (a Llama Scope SAE folder holds ${LLAMA_SCOPE_HPARAMS} and ${LLAMA_SCOPE_WEIGHTS})`);
  const tensors = readTensors(weightsFile);
  const E = shaped(tensors, "encoder.weight", [dSae, dModel], "d_sae, d_model", weightsFile);
  const c = shaped(tensors, "encoder.bias", [dSae], "d_sae", weightsFile);
  const D = shaped(tensors, "decoder.weight", [dModel, dSae], "d_model, d_sae", weightsFile);
  const b = useDecoderBias ? shaped(tensors, "decoder.bias", [dModel], "d_model", weightsFile) : new Float32Array(dModel);

  // n_i = |D1[:, i]| (step 2), read row by row of D
  const decScale = sIn / sOut; // D1 = D s_in / s_out
  const sq = new Float64Array(dSae);
  if (unitDecoder) for (let j = 0; j < dModel; j++) for (let i = 0; i < dSae; i++) sq[i] += (D[j * dSae + i] * decScale) ** 2;
  const n = unitDecoder ? sq.map(Math.sqrt) : new Float64Array(dSae).fill(1);
  const wEnc = transpose(E, dSae, dModel, { row: n }); // E2ᵀ: W_enc[:, i] = n_i E[i, :]
  const wDec = transpose(D, dModel, dSae, { col: n.map((ni) => (ni > 0 ? decScale / ni : 0)) }); // D2ᵀ: W_dec[i, :] = D1[:, i] / n_i
  const bEnc = Float32Array.from(c, (ci, i) => (ci / sIn) * n[i]); // c2
  const bDec = Float32Array.from(b, (v) => v / sOut); // b1

  const notes = [note, unitDecoder ? "decoder norms" : undefined].filter(Boolean);
  const model = modelName(dir);
  const format =
    `Llama Scope (OpenMOSS) ${LLAMA_SCOPE_HPARAMS} + ${LLAMA_SCOPE_WEIGHTS}` +
    (model ? `, model ${model}` : "") +
    (notes.length ? `; ${notes.join(" and ")} folded into the weights` : "");
  const sae: Sae = {
    architecture, dIn: dModel, dSae, wEnc, bEnc, wDec, bDec,
    threshold: threshold !== undefined ? new Float32Array(dSae).fill(threshold) : undefined,
    k, applyBDecToInput: useDecoderBias && biasToEncoder, layer, source: dir, format, hook: hookIn,
  };
  return { sae, dInFrom, layerFrom };
}
