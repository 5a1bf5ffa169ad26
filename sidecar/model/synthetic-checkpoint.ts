/**
 * Writes a synthetic sharded Hugging Face checkpoint of any size (random
 * bf16/fp16/fp32 weights, Llama layout, `model.safetensors.index.json`) one
 * tensor at a time, so a multi-GB checkpoint is made in little memory. For
 * measuring the streamed build (scripts/bench-build.ts); the weights are
 * seeded noise, not a model.
 */
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { toFloat16Array } from "./half.ts";

export interface SyntheticSpec {
  dModel: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  hiddenDim: number;
  vocabSize: number;
  dtype: "BF16" | "F16" | "F32";
  /** Most bytes of tensor data per shard (a tensor larger than this gets its own shard). */
  shardBytes: number;
  seed?: number;
}

const BYTES = { BF16: 2, F16: 2, F32: 4 } as const;

/** Tensor names and shapes of a Llama checkpoint with these dims, in file order. */
export function syntheticTensors(s: SyntheticSpec): { name: string; shape: number[] }[] {
  const hd = s.dModel / s.nHeads;
  const t: { name: string; shape: number[] }[] = [{ name: "model.embed_tokens.weight", shape: [s.vocabSize, s.dModel] }];
  for (let l = 0; l < s.nLayers; l++) {
    const p = `model.layers.${l}.`;
    t.push(
      { name: p + "input_layernorm.weight", shape: [s.dModel] },
      { name: p + "self_attn.q_proj.weight", shape: [s.nHeads * hd, s.dModel] },
      { name: p + "self_attn.k_proj.weight", shape: [s.nKvHeads * hd, s.dModel] },
      { name: p + "self_attn.v_proj.weight", shape: [s.nKvHeads * hd, s.dModel] },
      { name: p + "self_attn.o_proj.weight", shape: [s.dModel, s.nHeads * hd] },
      { name: p + "post_attention_layernorm.weight", shape: [s.dModel] },
      { name: p + "mlp.gate_proj.weight", shape: [s.hiddenDim, s.dModel] },
      { name: p + "mlp.up_proj.weight", shape: [s.hiddenDim, s.dModel] },
      { name: p + "mlp.down_proj.weight", shape: [s.dModel, s.hiddenDim] },
    );
  }
  t.push({ name: "model.norm.weight", shape: [s.dModel] }, { name: "lm_head.weight", shape: [s.vocabSize, s.dModel] });
  return t;
}

export function syntheticConfig(s: SyntheticSpec): Record<string, unknown> {
  return {
    architectures: ["LlamaForCausalLM"], model_type: "llama", hidden_size: s.dModel, intermediate_size: s.hiddenDim,
    num_hidden_layers: s.nLayers, num_attention_heads: s.nHeads, num_key_value_heads: s.nKvHeads, vocab_size: s.vocabSize,
    max_position_embeddings: 2048, rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: false, hidden_act: "silu",
    bos_token_id: 1, eos_token_id: 2, torch_dtype: { BF16: "bfloat16", F16: "float16", F32: "float32" }[s.dtype],
  };
}

/** Values ~ uniform(-a, a) with a = 1/sqrt(fan-in) (norm gains: 1), from a seeded xorshift. */
function fill(out: Float32Array, shape: number[], state: { x: number }): void {
  if (shape.length === 1) return void out.fill(1);
  const a = 1 / Math.sqrt(shape[1]);
  let x = state.x;
  for (let i = 0; i < out.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = ((x >>> 0) / 4294967296 - 0.5) * 2 * a;
  }
  state.x = x;
}

function encode(values: Float32Array, dtype: SyntheticSpec["dtype"]): Uint8Array {
  if (dtype === "F32") return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  if (dtype === "F16") return new Uint8Array(toFloat16Array(values).buffer);
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < out.length; i++) out[i] = bits[i] >>> 16; // truncation: fine for noise
  return new Uint8Array(out.buffer);
}

/**
 * Writes config.json, the shards and the index into `dir`; `onTensor` is
 * called after each tensor (for progress). Returns the shard files and sizes.
 */
export function writeSyntheticCheckpoint(dir: string, s: SyntheticSpec, onTensor?: (done: number, total: number) => void): { shards: { file: string; bytes: number }[]; totalBytes: number } {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "config.json"), JSON.stringify(syntheticConfig(s), null, 2));
  const tensors = syntheticTensors(s).map((t) => ({ ...t, bytes: t.shape.reduce((a, b) => a * b, 1) * BYTES[s.dtype] }));
  // group into shards of at most shardBytes
  const groups: (typeof tensors)[] = [[]];
  let size = 0;
  for (const t of tensors) {
    if (size > 0 && size + t.bytes > s.shardBytes) ((groups[groups.length] = []), (size = 0));
    groups[groups.length - 1].push(t);
    size += t.bytes;
  }
  const state = { x: (s.seed ?? 1) | 1 };
  const weightMap: Record<string, string> = {};
  const shards: { file: string; bytes: number }[] = [];
  let done = 0;
  groups.forEach((group, g) => {
    const file = `model-${String(g + 1).padStart(5, "0")}-of-${String(groups.length).padStart(5, "0")}.safetensors`;
    const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
    let offset = 0;
    for (const t of group) {
      header[t.name] = { dtype: s.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes] };
      offset += t.bytes;
      weightMap[t.name] = file;
    }
    let json = JSON.stringify(header);
    json += " ".repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
    const fd = openSync(join(dir, file), "w");
    try {
      writeSync(fd, len);
      writeSync(fd, Buffer.from(json, "utf8"));
      for (const t of group) {
        const values = new Float32Array(t.bytes / BYTES[s.dtype]);
        fill(values, t.shape, state);
        const bytes = encode(values, s.dtype);
        for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, Math.min(bytes.length - at, 1 << 30));
        onTensor?.(++done, tensors.length);
      }
    } finally {
      closeSync(fd);
    }
    shards.push({ file, bytes: 8 + Buffer.byteLength(json) + offset });
  });
  const totalBytes = tensors.reduce((n, t) => n + t.bytes, 0);
  writeFileSync(join(dir, "model.safetensors.index.json"), JSON.stringify({ metadata: { total_size: totalBytes }, weight_map: weightMap }, null, 2));
  return { shards, totalBytes };
}
