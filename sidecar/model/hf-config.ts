/**
 * Hugging Face `config.json` -> our LlamaConfig, family by family, as
 * transformers (v4.45, the version archref's references come from) reads it.
 *
 * | model_type | what differs from plain Llama |
 * | --- | --- |
 * | llama   | rope_scaling linear / dynamic / llama3; attention_bias |
 * | mistral | sliding_window on every layer (null: none) |
 * | qwen2   | q/k/v biases always; use_sliding_window must be false |
 * | phi3    | fused qkv_proj / gate_up_proj (split by the loader); rope_scaling longrope ("su"); sliding_window on every layer |
 * | gemma   | GELU (hidden_activation, default gelu_pytorch_tanh); embeddings * sqrt(hidden); (1 + w) norm gains; tied by default |
 * | gemma2  | gemma's, plus sandwich norms, query_pre_attn_scalar, attention and final soft-capping, sliding_window on even layers |
 *
 * Defaults for absent fields are each config class's own (e.g. Gemma 2's
 * attn_logit_softcapping 50, head_dim 256; Phi-3's rms_norm_eps 1e-5).
 * Fields that change the math and are not implemented are refused with an
 * error naming the file, the field and its value; fields that do not change
 * inference (dropout, initializer_range, torch_dtype, use_cache, ...) are ignored.
 */
import type { Activation, LlamaConfig, RopeScaling } from "./weights.ts";

export type HfConfig = Record<string, unknown>;

interface Family {
  /** Which q/k/v biases the checkpoint has. */
  qkvBias: "always" | "attention_bias";
  tiedByDefault: boolean;
  /** The config field naming the MLP activation, and its default. */
  activationField: "hidden_act" | "hidden_activation";
  defaultActivation: string;
  /** Default head_dim when absent (else hidden_size / num_attention_heads). */
  defaultHeadDim?: number;
  defaultRmsNormEps: number;
  /** Which layers a numeric sliding_window applies to, and its default when the field is absent. */
  sliding: "none" | "all" | "even";
  defaultSlidingWindow?: number;
  /** rope_scaling types the family's rotary embedding honours. */
  ropeTypes: readonly string[];
  /** Gemma: embeddings * sqrt(hidden), (1 + w) norm gains. */
  gemma: boolean;
  sandwichNorms: boolean;
}

const LLAMA_ROPE = ["linear", "dynamic", "llama3"] as const;

export const FAMILIES: Record<string, Family> = {
  llama: { qkvBias: "attention_bias", tiedByDefault: false, activationField: "hidden_act", defaultActivation: "silu", defaultRmsNormEps: 1e-6, sliding: "none", ropeTypes: LLAMA_ROPE, gemma: false, sandwichNorms: false },
  mistral: { qkvBias: "attention_bias", tiedByDefault: false, activationField: "hidden_act", defaultActivation: "silu", defaultRmsNormEps: 1e-6, sliding: "all", defaultSlidingWindow: 4096, ropeTypes: LLAMA_ROPE, gemma: false, sandwichNorms: false },
  qwen2: { qkvBias: "always", tiedByDefault: false, activationField: "hidden_act", defaultActivation: "silu", defaultRmsNormEps: 1e-6, sliding: "none", ropeTypes: LLAMA_ROPE, gemma: false, sandwichNorms: false },
  phi3: { qkvBias: "attention_bias", tiedByDefault: false, activationField: "hidden_act", defaultActivation: "silu", defaultRmsNormEps: 1e-5, sliding: "all", ropeTypes: ["longrope", "su"], gemma: false, sandwichNorms: false },
  gemma: { qkvBias: "attention_bias", tiedByDefault: true, activationField: "hidden_activation", defaultActivation: "gelu_pytorch_tanh", defaultHeadDim: 256, defaultRmsNormEps: 1e-6, sliding: "none", ropeTypes: [], gemma: true, sandwichNorms: false },
  gemma2: { qkvBias: "attention_bias", tiedByDefault: true, activationField: "hidden_activation", defaultActivation: "gelu_pytorch_tanh", defaultHeadDim: 256, defaultRmsNormEps: 1e-6, sliding: "even", defaultSlidingWindow: 4096, ropeTypes: [], gemma: true, sandwichNorms: true },
};

export const SUPPORTED_MODEL_TYPES = Object.keys(FAMILIES);

/** transformers' ACT2FN names -> ours. */
const ACTIVATIONS: Record<string, Activation> = {
  silu: "silu", swish: "silu",
  gelu: "gelu",
  gelu_pytorch_tanh: "gelu_tanh", gelu_new: "gelu_tanh", gelu_fast: "gelu_tanh",
};

/** Error naming the config file and field. */
function configError(file: string, field: string, msg: string): Error {
  return new Error(`${file}: field "${field}" ${msg}`);
}

/** Checks config.json and turns it into our config (no weights read). */
export function parseHfConfig(cfg: HfConfig, file: string): LlamaConfig {
  const modelType = cfg.model_type;
  const family = typeof modelType === "string" ? FAMILIES[modelType] : undefined;
  if (!family) throw configError(file, "model_type", `is ${JSON.stringify(modelType)}; supported: ${SUPPORTED_MODEL_TYPES.join(", ")}`);
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

  reject("mlp_bias", cfg.mlp_bias === true, "MLP biases");
  reject("partial_rotary_factor", cfg.partial_rotary_factor != null && cfg.partial_rotary_factor !== 1, "partial rotary embeddings");
  reject("quantization_config", cfg.quantization_config != null, "quantized weights (build from a float checkpoint)");
  if (family.gemma) reject("attention_bias", cfg.attention_bias === true, "attention biases in a Gemma model");
  if (!family.sandwichNorms) {
    reject("attn_logit_softcapping", cfg.attn_logit_softcapping != null, `attention soft-capping in a ${modelType} model`);
    reject("final_logit_softcapping", cfg.final_logit_softcapping != null, `logit soft-capping in a ${modelType} model`);
  }
  const actName = cfg[family.activationField] ?? family.defaultActivation;
  const activation = typeof actName === "string" ? ACTIVATIONS[actName] : undefined;
  if (!activation) throw configError(file, family.activationField, `is ${JSON.stringify(actName)}: supported: ${Object.keys(ACTIVATIONS).join(", ")}`);

  const dModel = int("hidden_size");
  const nHeads = int("num_attention_heads");
  const nLayers = int("num_hidden_layers");
  const headDim = int("head_dim", family.defaultHeadDim ?? dModel / nHeads);
  const contextLength = int("max_position_embeddings", 2048);
  const ropeParams = (cfg.rope_parameters ?? null) as Record<string, unknown> | null;
  const ropeTheta = typeof ropeParams?.rope_theta === "number" ? ropeParams.rope_theta : num("rope_theta", 10000);
  const config: LlamaConfig = {
    vocabSize: int("vocab_size"),
    dModel,
    nLayers,
    nHeads,
    nKvHeads: int("num_key_value_heads", nHeads),
    headDim,
    hiddenDim: int("intermediate_size"),
    contextLength,
    ropeTheta,
    rmsNormEps: num("rms_norm_eps", family.defaultRmsNormEps),
    rotary: "half",
    tiedEmbeddings: typeof cfg.tie_word_embeddings === "boolean" ? cfg.tie_word_embeddings : family.tiedByDefault,
    qkvBias: family.qkvBias === "always" || cfg.attention_bias === true,
  };
  const rope = parseRope(cfg, file, family, headDim, contextLength);
  if (rope) config.rope = rope;
  if (activation !== "silu") config.activation = activation;
  if (family.gemma) config.embedScale = Math.fround(Math.sqrt(dModel));
  if (family.sandwichNorms) {
    config.sandwichNorms = true;
    config.attnScale = num("query_pre_attn_scalar", 256) ** -0.5;
    const cap = (field: string, fallback: number) => {
      const v = field in cfg ? cfg[field] : fallback;
      if (v === null) return undefined;
      if (typeof v !== "number" || !(v > 0)) throw configError(file, field, `must be a positive number or null, got ${JSON.stringify(v)}`);
      return v;
    };
    const attnCap = cap("attn_logit_softcapping", 50);
    const finalCap = cap("final_logit_softcapping", 30);
    if (attnCap) config.attnSoftcap = attnCap;
    if (finalCap) config.finalSoftcap = finalCap;
  }
  const windows = parseSlidingWindows(cfg, file, family, nLayers, contextLength, String(modelType));
  if (windows) config.slidingWindows = windows;
  return config;
}

/** Per-layer sliding windows (null = full attention), or undefined when every layer is full. */
function parseSlidingWindows(cfg: HfConfig, file: string, family: Family, nLayers: number, contextLength: number, modelType: string): (number | null)[] | undefined {
  if (cfg.use_sliding_window === true) {
    throw configError(file, "use_sliding_window", `is true: ${modelType}'s per-layer sliding window (max_window_layers) is not implemented`);
  }
  const layerTypes = cfg.layer_types;
  if (layerTypes !== undefined && layerTypes !== null) {
    if (!Array.isArray(layerTypes) || layerTypes.length !== nLayers || layerTypes.some((t) => t !== "full_attention" && t !== "sliding_attention")) {
      throw configError(file, "layer_types", `is ${JSON.stringify(layerTypes)}: expected ${nLayers} entries of "full_attention" or "sliding_attention"`);
    }
  }
  const sw = family.sliding === "none" ? null : "sliding_window" in cfg ? cfg.sliding_window : (family.defaultSlidingWindow ?? null);
  if (sw === null) {
    if (Array.isArray(layerTypes) && layerTypes.includes("sliding_attention")) throw configError(file, "layer_types", `names sliding_attention layers but "sliding_window" is null`);
    return undefined;
  }
  if (typeof sw !== "number" || !Number.isInteger(sw) || sw <= 0) throw configError(file, "sliding_window", `must be a positive integer or null, got ${JSON.stringify(sw)}`);
  const sliding = (l: number) =>
    Array.isArray(layerTypes) ? layerTypes[l] === "sliding_attention" : family.sliding === "all" || l % 2 === 0;
  // A window as long as the context never binds: leave those layers full (a leaner graph).
  const windows = Array.from({ length: nLayers }, (_, l) => (sliding(l) && sw < contextLength ? sw : null));
  return windows.some((w) => w !== null) ? windows : undefined;
}

/** rope_scaling (or rope_parameters) -> RopeScaling; undefined for plain RoPE. */
function parseRope(cfg: HfConfig, file: string, family: Family, headDim: number, contextLength: number): RopeScaling | undefined {
  const field = cfg.rope_scaling != null ? "rope_scaling" : "rope_parameters";
  const raw = cfg[field];
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== "object" || Array.isArray(raw)) throw configError(file, field, `must be an object or null, got ${JSON.stringify(raw)}`);
  const r = raw as Record<string, unknown>;
  const type = r.rope_type ?? r.type ?? "default";
  if (type === "default") return undefined;
  if (typeof type !== "string" || !family.ropeTypes.includes(type)) {
    const supported = family.ropeTypes.length ? family.ropeTypes.join(", ") : "none (plain RoPE only)";
    throw configError(file, `${field}.rope_type`, `is ${JSON.stringify(type)}: not implemented for model_type ${JSON.stringify(cfg.model_type)} (supported: ${supported})`);
  }
  const num = (key: string, fallback?: number): number => {
    const v = r[key] ?? fallback;
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) throw configError(file, `${field}.${key}`, `must be a positive number, got ${JSON.stringify(r[key])}`);
    return v;
  };
  switch (type) {
    case "linear":
      return { type, factor: num("factor") };
    case "dynamic":
      return { type, factor: num("factor"), originalContext: contextLength };
    case "llama3": {
      const rope = { type, factor: num("factor"), lowFreqFactor: num("low_freq_factor"), highFreqFactor: num("high_freq_factor"), originalContext: num("original_max_position_embeddings") } as const;
      if (rope.highFreqFactor <= rope.lowFreqFactor) throw configError(file, `${field}.high_freq_factor`, `must exceed low_freq_factor (${rope.lowFreqFactor}), got ${rope.highFreqFactor}`);
      return rope;
    }
    default: {
      // Phi-3 LongRoPE ("su" is its older name)
      const factors = (key: string): number[] => {
        const v = r[key];
        if (!Array.isArray(v) || v.length !== headDim / 2 || v.some((x) => typeof x !== "number" || !(x > 0))) {
          throw configError(file, `${field}.${key}`, `must be ${headDim / 2} positive numbers (head_dim / 2), got ${JSON.stringify(v)?.slice(0, 80)}`);
        }
        return v as number[];
      };
      // transformers reads it from the top level of config.json; newer configs put it in rope_scaling
      const originalContext = num("original_max_position_embeddings", cfg.original_max_position_embeddings as number);
      const scale = contextLength / originalContext;
      const attentionFactor = typeof r.attention_factor === "number" ? r.attention_factor : scale <= 1 ? 1 : Math.sqrt(1 + Math.log(scale) / Math.log(originalContext));
      return { type: "longrope", shortFactor: factors("short_factor"), longFactor: factors("long_factor"), originalContext, attentionFactor };
    }
  }
}
