/**
 * Writes LlamaWeights as a Hugging Face checkpoint folder (config.json +
 * safetensors, optionally sharded). Tests use it to make fixtures; it is the
 * inverse of loadHf for the supported model types.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { writeSafetensors, type WriteTensor } from "./safetensors.ts";
import { toHalfRotary, type LlamaWeights } from "./weights.ts";

export interface HfFixtureOptions {
  modelType?: "llama" | "mistral" | "qwen2";
  /** Split the tensors over this many shards with a model.safetensors.index.json (default 1: one file). */
  shards?: number;
  dtype?: "F32" | "F16" | "BF16";
  /** Extra or overriding config.json fields. */
  config?: Record<string, unknown>;
}

/** HF tensor name -> [shape, data] for weights in the half rotary convention. */
export function hfTensors(weights: LlamaWeights): Record<string, { shape: number[]; data: Float32Array }> {
  const w = toHalfRotary(weights); // HF layout: q/k rows permuted for rotate_half
  const c = w.config;
  const q = c.nHeads * c.headDim;
  const kv = c.nKvHeads * c.headDim;
  const t: Record<string, { shape: number[]; data: Float32Array }> = {
    "model.embed_tokens.weight": { shape: [c.vocabSize, c.dModel], data: w.tokenEmbedding },
  };
  w.layers.forEach((l, i) => {
    const p = `model.layers.${i}.`;
    t[p + "input_layernorm.weight"] = { shape: [c.dModel], data: l.attnNorm };
    t[p + "self_attn.q_proj.weight"] = { shape: [q, c.dModel], data: l.wq };
    t[p + "self_attn.k_proj.weight"] = { shape: [kv, c.dModel], data: l.wk };
    t[p + "self_attn.v_proj.weight"] = { shape: [kv, c.dModel], data: l.wv };
    t[p + "self_attn.o_proj.weight"] = { shape: [c.dModel, q], data: l.wo };
    if (l.bq && l.bk && l.bv) {
      t[p + "self_attn.q_proj.bias"] = { shape: [q], data: l.bq };
      t[p + "self_attn.k_proj.bias"] = { shape: [kv], data: l.bk };
      t[p + "self_attn.v_proj.bias"] = { shape: [kv], data: l.bv };
    }
    t[p + "post_attention_layernorm.weight"] = { shape: [c.dModel], data: l.ffnNorm };
    t[p + "mlp.gate_proj.weight"] = { shape: [c.hiddenDim, c.dModel], data: l.w1 };
    t[p + "mlp.up_proj.weight"] = { shape: [c.hiddenDim, c.dModel], data: l.w3 };
    t[p + "mlp.down_proj.weight"] = { shape: [c.dModel, c.hiddenDim], data: l.w2 };
  });
  t["model.norm.weight"] = { shape: [c.dModel], data: w.finalNorm };
  if (!c.tiedEmbeddings) t["lm_head.weight"] = { shape: [c.vocabSize, c.dModel], data: w.lmHead };
  return t;
}

/** The config.json a Hugging Face export of these weights would carry. */
export function hfConfigFor(w: LlamaWeights, modelType: "llama" | "mistral" | "qwen2" = "llama"): Record<string, unknown> {
  const c = w.config;
  if (modelType === "qwen2" && !c.qkvBias) throw new Error("qwen2 always has q/k/v biases");
  return {
    architectures: [{ llama: "LlamaForCausalLM", mistral: "MistralForCausalLM", qwen2: "Qwen2ForCausalLM" }[modelType]],
    model_type: modelType,
    hidden_size: c.dModel,
    intermediate_size: c.hiddenDim,
    num_hidden_layers: c.nLayers,
    num_attention_heads: c.nHeads,
    num_key_value_heads: c.nKvHeads,
    head_dim: c.headDim,
    vocab_size: c.vocabSize,
    max_position_embeddings: c.contextLength,
    rms_norm_eps: c.rmsNormEps,
    rope_theta: c.ropeTheta,
    rope_scaling: null,
    tie_word_embeddings: c.tiedEmbeddings,
    hidden_act: "silu",
    ...(modelType === "llama" ? { attention_bias: c.qkvBias, mlp_bias: false } : {}),
    ...(modelType === "mistral" ? { sliding_window: null } : {}),
    ...(modelType === "qwen2" ? { use_sliding_window: false, sliding_window: c.contextLength } : {}),
    bos_token_id: 1,
    eos_token_id: 2,
    torch_dtype: "float32",
  };
}

export function writeHfFixture(dir: string, w: LlamaWeights, opts: HfFixtureOptions = {}): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "config.json"), JSON.stringify({ ...hfConfigFor(w, opts.modelType), ...opts.config }, null, 2));
  const all = Object.entries(hfTensors(w)).map(([name, t]): [string, WriteTensor] => [name, { ...t, dtype: opts.dtype }]);
  const shards = opts.shards ?? 1;
  if (shards <= 1) {
    writeSafetensors(join(dir, "model.safetensors"), Object.fromEntries(all));
    return;
  }
  const weightMap: Record<string, string> = {};
  for (let s = 0; s < shards; s++) {
    const file = `model-${String(s + 1).padStart(5, "0")}-of-${String(shards).padStart(5, "0")}.safetensors`;
    const part = all.filter((_, i) => i % shards === s);
    for (const [name] of part) weightMap[name] = file;
    writeSafetensors(join(dir, file), Object.fromEntries(part));
  }
  const totalSize = all.reduce((n, [, t]) => n + t.data.byteLength, 0);
  writeFileSync(join(dir, "model.safetensors.index.json"), JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2));
}
