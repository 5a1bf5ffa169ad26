/**
 * Loader for Hugging Face decoder checkpoint directories: `config.json` +
 * `model.safetensors` (or a sharded `model.safetensors.index.json`), for the
 * families of ./hf-config.ts (llama, mistral, qwen2, phi3, gemma, gemma2).
 *
 * Tensor layout, per layer `model.layers.L.`:
 *   input_layernorm, self_attn.{q,k,v,o}_proj (+ q/k/v biases), post_attention_layernorm,
 *   mlp.{gate,up,down}_proj; then model.embed_tokens, model.norm, lm_head (absent when tied).
 * Phi-3 fuses self_attn.qkv_proj (q rows, then k, then v) and mlp.gate_up_proj
 * (gate rows, then up): split here. Gemma 2's post_attention_layernorm is the
 * norm AFTER attention, pre_/post_feedforward_layernorm wrap the MLP.
 * Gemma norms compute x_normed * (1 + w): 1 is added to every gain here.
 *
 * HF checkpoints rotate halves (`rotate_half`), so the result has rotary "half".
 * A tensor the builder would not use is an error (it would be math we skip).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { FAMILIES, parseHfConfig, type HfConfig } from "./hf-config.ts";
import { mapWeight, type Weight } from "./lazy-tensor.ts";
import { openSafetensorsDir } from "./safetensors.ts";
import { materializeWeights, validateWeights, type LayerWeights, type LlamaWeights } from "./weights.ts";

export { parseHfConfig, SUPPORTED_MODEL_TYPES, type HfConfig } from "./hf-config.ts";

export function readHfConfig(dir: string): HfConfig {
  const file = join(dir, "config.json");
  try {
    return JSON.parse(readFileSync(file, "utf8")) as HfConfig;
  } catch (e) {
    throw new Error(`${file}: cannot read config (${(e as Error).message})`);
  }
}

/** Rows [from, to) of a row-major [rows, cols] matrix (a copy, made when the weight is read). */
const rows = (a: Weight, cols: number, from: number, to: number) => mapWeight(a, (to - from) * cols, (x) => x.slice(from * cols, to * cols));

/** Loads a Hugging Face checkpoint directory into memory; `files` lists what was read (for hashing). */
export function loadHf(dir: string): { weights: LlamaWeights; files: string[]; hfConfig: HfConfig } {
  const { weights, files, hfConfig } = openHf(dir);
  return { weights: materializeWeights(weights), files, hfConfig };
}

/**
 * Opens a Hugging Face checkpoint directory without reading its tensors:
 * config and shapes are checked now, each weight is read (and split or
 * shifted as below) when the builder asks for it.
 */
export function openHf(dir: string): { weights: LlamaWeights<Weight>; files: string[]; hfConfig: HfConfig } {
  const configFile = join(dir, "config.json");
  const hfConfig = readHfConfig(dir);
  const config = parseHfConfig(hfConfig, configFile);
  const { tensors, files } = openSafetensorsDir(dir);
  const used = new Set<string>();
  const get = (name: string, shape: number[]): Weight => {
    const t = tensors.get(name);
    if (!t) throw new Error(`${dir}: tensor ${name} not found in the safetensors files`);
    if (t.shape.join(",") !== shape.join(",")) throw new Error(`${dir}: tensor ${name} has shape [${t.shape}], expected [${shape}] from config.json`);
    used.add(name);
    return t;
  };
  const { dModel: d, nHeads, nKvHeads, headDim: hd, hiddenDim, vocabSize, nLayers } = config;
  const family = FAMILIES[String(hfConfig.model_type)]!;
  // Gemma's norms multiply by (1 + w); in float32, as transformers does.
  const norm = (name: string) => (family.gemma ? mapWeight(get(name, [d]), d, (w) => w.map((x) => 1 + x)) : get(name, [d]));
  const fused = hfConfig.model_type === "phi3";
  const layers: LayerWeights<Weight>[] = [];
  for (let l = 0; l < nLayers; l++) {
    const p = `model.layers.${l}.`;
    const q = nHeads * hd;
    const kv = nKvHeads * hd;
    const qkv = fused ? get(p + "self_attn.qkv_proj.weight", [q + 2 * kv, d]) : null;
    const gateUp = fused ? get(p + "mlp.gate_up_proj.weight", [2 * hiddenDim, d]) : null;
    const layer: LayerWeights<Weight> = {
      attnNorm: norm(p + "input_layernorm.weight"),
      wq: qkv ? rows(qkv, d, 0, q) : get(p + "self_attn.q_proj.weight", [q, d]),
      wk: qkv ? rows(qkv, d, q, q + kv) : get(p + "self_attn.k_proj.weight", [kv, d]),
      wv: qkv ? rows(qkv, d, q + kv, q + 2 * kv) : get(p + "self_attn.v_proj.weight", [kv, d]),
      wo: get(p + "self_attn.o_proj.weight", [d, q]),
      ffnNorm: norm(p + (family.sandwichNorms ? "pre_feedforward_layernorm.weight" : "post_attention_layernorm.weight")),
      w1: gateUp ? rows(gateUp, d, 0, hiddenDim) : get(p + "mlp.gate_proj.weight", [hiddenDim, d]),
      w2: get(p + "mlp.down_proj.weight", [d, hiddenDim]),
      w3: gateUp ? rows(gateUp, d, hiddenDim, 2 * hiddenDim) : get(p + "mlp.up_proj.weight", [hiddenDim, d]),
    };
    if (family.sandwichNorms) {
      layer.postAttnNorm = norm(p + "post_attention_layernorm.weight");
      layer.postFfnNorm = norm(p + "post_feedforward_layernorm.weight");
    }
    if (config.qkvBias) {
      layer.bq = get(p + "self_attn.q_proj.bias", [nHeads * hd]);
      layer.bk = get(p + "self_attn.k_proj.bias", [nKvHeads * hd]);
      layer.bv = get(p + "self_attn.v_proj.bias", [nKvHeads * hd]);
    }
    layers.push(layer);
  }
  const tokenEmbedding = get("model.embed_tokens.weight", [vocabSize, d]);
  const finalNorm = norm("model.norm.weight");
  let lmHead: Weight;
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

  const weights: LlamaWeights<Weight> = { config, tokenEmbedding, layers, finalNorm, lmHead };
  validateWeights(weights, dir);
  return { weights, files: [configFile, ...files], hfConfig };
}
