/**
 * Loader for Hugging Face Llama-family checkpoint directories:
 * `config.json` + `model.safetensors` (or a sharded `model.safetensors.index.json`).
 *
 * Supported model_type: llama (incl. SmolLM, TinyLlama), mistral, qwen2.
 *
 * config.json fields honoured:
 *   hidden_size, intermediate_size, num_hidden_layers, num_attention_heads,
 *   num_key_value_heads (default num_attention_heads), head_dim (default
 *   hidden_size / num_attention_heads), vocab_size, max_position_embeddings,
 *   rms_norm_eps, rope_theta (default 10000; or rope_parameters.rope_theta),
 *   tie_word_embeddings (default false), attention_bias (llama; qwen2 always
 *   has q/k/v biases), bos_token_id / eos_token_id (read by the manifest).
 * Fields checked and rejected when they change the math:
 *   rope_scaling non-null, rope_parameters.rope_type other than "default",
 *   hidden_act other than "silu", mlp_bias true, an active sliding window
 *   (mistral/llama sliding_window < max_position_embeddings; qwen2
 *   use_sliding_window true), partial_rotary_factor != 1, layer_types other
 *   than full_attention, quantization_config, attn/final logit soft-capping.
 * Everything else (dropout, initializer_range, pretraining_tp, torch_dtype,
 * use_cache, architectures, ...) does not change inference and is ignored.
 *
 * HF checkpoints rotate halves (`rotate_half`), so the result has rotary "half".
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { readSafetensorsDir, type Tensor } from "./safetensors.ts";
import { validateWeights, type LayerWeights, type LlamaWeights } from "./weights.ts";

export const SUPPORTED_MODEL_TYPES = ["llama", "mistral", "qwen2"] as const;

export type HfConfig = Record<string, unknown>;

export function readHfConfig(dir: string): HfConfig {
  const file = join(dir, "config.json");
  try {
    return JSON.parse(readFileSync(file, "utf8")) as HfConfig;
  } catch (e) {
    throw new Error(`${file}: cannot read config (${(e as Error).message})`);
  }
}

/** Error naming the config file and field. */
function configError(file: string, field: string, msg: string): Error {
  return new Error(`${file}: field "${field}" ${msg}`);
}

/** Checks config.json and turns it into our config (no weights read). */
export function parseHfConfig(cfg: HfConfig, file: string): LlamaWeights["config"] {
  const modelType = cfg.model_type;
  if (typeof modelType !== "string" || !(SUPPORTED_MODEL_TYPES as readonly string[]).includes(modelType)) {
    throw configError(file, "model_type", `is ${JSON.stringify(modelType)}; supported: ${SUPPORTED_MODEL_TYPES.join(", ")}`);
  }
  const int = (field: string, fallback?: number): number => {
    const v = cfg[field] ?? fallback;
    if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) throw configError(file, field, `must be a positive integer, got ${JSON.stringify(cfg[field])}`);
    return v;
  };
  const num = (field: string, fallback: number): number => {
    const v = cfg[field] ?? fallback;
    if (typeof v !== "number" || !(v > 0)) throw configError(file, field, `must be a positive number, got ${JSON.stringify(cfg[field])}`);
    return v;
  };
  const reject = (field: string, bad: boolean, why: string) => {
    if (bad) throw configError(file, field, `is ${JSON.stringify(cfg[field])}: ${why}, which this builder does not implement`);
  };

  reject("rope_scaling", cfg.rope_scaling != null, "RoPE scaling changes the rotary angles");
  const ropeParams = cfg.rope_parameters as { rope_type?: string; rope_theta?: number } | undefined | null;
  if (ropeParams && ropeParams.rope_type !== undefined && ropeParams.rope_type !== "default") {
    throw configError(file, "rope_parameters.rope_type", `is ${JSON.stringify(ropeParams.rope_type)}: only "default" RoPE is implemented`);
  }
  reject("hidden_act", (cfg.hidden_act ?? "silu") !== "silu", "the MLP activation must be silu (SwiGLU)");
  reject("mlp_bias", cfg.mlp_bias === true, "MLP biases");
  reject("partial_rotary_factor", cfg.partial_rotary_factor != null && cfg.partial_rotary_factor !== 1, "partial rotary embeddings");
  reject("quantization_config", cfg.quantization_config != null, "quantized weights");
  reject("attn_logit_softcapping", cfg.attn_logit_softcapping != null, "attention soft-capping");
  reject("final_logit_softcapping", cfg.final_logit_softcapping != null, "logit soft-capping");
  const maxPos = int("max_position_embeddings", 2048);
  const sw = cfg.sliding_window;
  if (modelType === "qwen2") {
    reject("use_sliding_window", cfg.use_sliding_window === true, "sliding-window attention");
  } else {
    reject("sliding_window", typeof sw === "number" && sw < maxPos, "sliding-window attention shorter than max_position_embeddings");
  }
  const layerTypes = cfg.layer_types;
  reject("layer_types", Array.isArray(layerTypes) && layerTypes.some((t) => t !== "full_attention"), "layers other than full_attention");

  const dModel = int("hidden_size");
  const nHeads = int("num_attention_heads");
  const headDim = int("head_dim", dModel / nHeads);
  const qkvBias = modelType === "qwen2" ? true : cfg.attention_bias === true;
  return {
    vocabSize: int("vocab_size"),
    dModel,
    nLayers: int("num_hidden_layers"),
    nHeads,
    nKvHeads: int("num_key_value_heads", nHeads),
    headDim,
    hiddenDim: int("intermediate_size"),
    contextLength: maxPos,
    ropeTheta: ropeParams?.rope_theta ?? num("rope_theta", 10000),
    rmsNormEps: num("rms_norm_eps", 1e-6),
    rotary: "half",
    tiedEmbeddings: cfg.tie_word_embeddings === true,
    qkvBias,
  };
}

/** Loads a Hugging Face checkpoint directory; `files` lists what was read (for hashing). */
export function loadHf(dir: string): { weights: LlamaWeights; files: string[]; hfConfig: HfConfig } {
  const configFile = join(dir, "config.json");
  const hfConfig = readHfConfig(dir);
  const config = parseHfConfig(hfConfig, configFile);
  const { tensors, files } = readSafetensorsDir(dir);
  const used = new Set<string>();
  const get = (name: string, shape: number[]): Float32Array => {
    const t: Tensor | undefined = tensors.get(name);
    if (!t) throw new Error(`${dir}: tensor ${name} not found in the safetensors files`);
    if (t.shape.join(",") !== shape.join(",")) throw new Error(`${dir}: tensor ${name} has shape [${t.shape}], expected [${shape}] from config.json`);
    used.add(name);
    return t.data;
  };
  const { dModel: d, nHeads, nKvHeads, headDim: hd, hiddenDim, vocabSize, nLayers } = config;
  const layers: LayerWeights[] = [];
  for (let l = 0; l < nLayers; l++) {
    const p = `model.layers.${l}.`;
    const layer: LayerWeights = {
      attnNorm: get(p + "input_layernorm.weight", [d]),
      wq: get(p + "self_attn.q_proj.weight", [nHeads * hd, d]),
      wk: get(p + "self_attn.k_proj.weight", [nKvHeads * hd, d]),
      wv: get(p + "self_attn.v_proj.weight", [nKvHeads * hd, d]),
      wo: get(p + "self_attn.o_proj.weight", [d, nHeads * hd]),
      ffnNorm: get(p + "post_attention_layernorm.weight", [d]),
      w1: get(p + "mlp.gate_proj.weight", [hiddenDim, d]),
      w2: get(p + "mlp.down_proj.weight", [d, hiddenDim]),
      w3: get(p + "mlp.up_proj.weight", [hiddenDim, d]),
    };
    if (config.qkvBias) {
      layer.bq = get(p + "self_attn.q_proj.bias", [nHeads * hd]);
      layer.bk = get(p + "self_attn.k_proj.bias", [nKvHeads * hd]);
      layer.bv = get(p + "self_attn.v_proj.bias", [nKvHeads * hd]);
    }
    layers.push(layer);
  }
  const tokenEmbedding = get("model.embed_tokens.weight", [vocabSize, d]);
  const finalNorm = get("model.norm.weight", [d]);
  let lmHead: Float32Array;
  if (config.tiedEmbeddings) {
    lmHead = tokenEmbedding;
    if (tensors.has("lm_head.weight")) used.add("lm_head.weight"); // a saved copy of the tied matrix
  } else {
    if (!tensors.has("lm_head.weight")) {
      throw new Error(`${dir}: lm_head.weight is missing but ${configFile} does not set "tie_word_embeddings": true`);
    }
    lmHead = get("lm_head.weight", [vocabSize, d]);
  }
  // Anything left over would be math we do not run (e.g. o_proj.bias): refuse it.
  const unused = [...tensors.keys()].filter((n) => !used.has(n) && !n.endsWith(".rotary_emb.inv_freq"));
  if (unused.length > 0) throw new Error(`${dir}: unexpected tensors this builder would ignore: ${unused.slice(0, 5).join(", ")}${unused.length > 5 ? ", ..." : ""}`);

  const weights: LlamaWeights = { config, tokenEmbedding, layers, finalNorm, lmHead };
  validateWeights(weights, dir);
  return { weights, files: [configFile, ...files], hfConfig };
}
