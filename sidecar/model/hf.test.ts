import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { hfConfigFor, writeHfFixture } from "./hf-fixture.ts";
import { loadHf, parseHfConfig } from "./hf.ts";
import { loadLlama2c } from "./llama2c.ts";
import { randomLlama } from "./random-model.ts";
import { newKvCache, referenceForward } from "./reference.ts";
import { writeSafetensors } from "./safetensors.ts";
import { tempDir } from "../../test/support/tmp.ts";

const SHARED = join(import.meta.dirname, "../../../shared/models");
const tmp = () => tempDir("sg-hf-");
const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);

describe("Hugging Face loader", () => {
  it("stories260K-hf and stories260K (llama2.c) give identical reference logits", () => {
    const hf = loadHf(join(SHARED, "stories260K-hf")).weights;
    const l2c = loadLlama2c(join(SHARED, "stories260K/stories260K.bin"));
    expect(hf.config.rotary).toBe("half");
    expect(l2c.config.rotary).toBe("interleaved");
    const ids = [1, 403, 407, 261, 378, 11, 300, 42];
    const a = referenceForward(hf, newKvCache(hf), ids).logits;
    const b = referenceForward(l2c, newKvCache(l2c), ids).logits;
    a.forEach((l, i) => expect(maxDiff(l, b[i])).toBeLessThan(1e-5));
  });

  it.each([
    ["llama tied", "llama", { tiedEmbeddings: true }],
    ["llama with attention_bias", "llama", { qkvBias: true }],
    ["mistral", "mistral", {}],
    ["qwen2 (q/k/v biases)", "qwen2", { qkvBias: true }],
  ] as const)("loads %s fixtures equal to the source weights", (_name, modelType, over) => {
    const w = randomLlama({ rotary: "interleaved", ...over }, 21);
    const dir = tmp();
    writeHfFixture(dir, w, { modelType });
    const back = loadHf(dir).weights;
    expect(back.config).toEqual({ ...w.config, rotary: "half" });
    const ids = [4, 8, 15, 16, 23, 42];
    const a = referenceForward(w, newKvCache(w), ids).logits;
    const b = referenceForward(back, newKvCache(back), ids).logits;
    a.forEach((l, i) => expect(maxDiff(l, b[i])).toBeLessThan(1e-5));
  });

  it("loads bf16 sharded checkpoints", () => {
    const w = randomLlama({}, 22);
    const dir = tmp();
    writeHfFixture(dir, w, { shards: 2, dtype: "BF16" });
    const back = loadHf(dir);
    expect(back.files.map((f) => f.split("/").at(-1))).toEqual([
      "config.json", "model.safetensors.index.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
    ]);
    expect(maxDiff(back.weights.layers[0].wq, w.layers[0].wq)).toBeLessThan(0.05);
  });

  it.each([
    ["model_type", { model_type: "gemma3" }, /config\.json: field "model_type" is "gemma3"; supported: llama, mistral, qwen2, phi3, gemma, gemma2/],
    ["rope_scaling", { rope_scaling: { rope_type: "yarn", factor: 4 } }, /field "rope_scaling.rope_type" is "yarn": not implemented for model_type "llama" \(supported: linear, dynamic, llama3\)/],
    ["rope_scaling factor", { rope_scaling: { type: "linear" } }, /field "rope_scaling.factor" must be a positive number, got undefined/],
    ["llama3 rope fields", { rope_scaling: { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4 } }, /field "rope_scaling.original_max_position_embeddings" must be a positive number/],
    ["hidden_act", { hidden_act: "relu2" }, /field "hidden_act" is "relu2": supported: silu, swish, gelu, gelu_pytorch_tanh/],
    ["mlp_bias", { mlp_bias: true }, /field "mlp_bias" is true/],
    ["sliding_window", { model_type: "mistral", sliding_window: "16" }, /field "sliding_window" must be a positive integer or null, got "16"/],
    ["rope_parameters", { rope_parameters: { rope_type: "longrope", rope_theta: 5e5 } }, /field "rope_parameters.rope_type" is "longrope"/],
    ["soft-capping outside gemma2", { attn_logit_softcapping: 50 }, /field "attn_logit_softcapping" is 50: attention soft-capping in a llama model/],
    ["hidden_size", { hidden_size: "64" }, /field "hidden_size" must be a positive integer/],
    ["quantization_config", { quantization_config: { bits: 4 } }, /field "quantization_config"/],
  ])("rejects %s with the file and field named", (_field, patch, message) => {
    const base = hfConfigFor(randomLlama({}, 1));
    expect(() => parseHfConfig({ ...base, ...patch }, "/m/config.json")).toThrow(message);
  });

  it("accepts inactive sliding windows and defaults missing fields", () => {
    const base = hfConfigFor(randomLlama({}, 1), "mistral");
    const c = parseHfConfig({ ...base, sliding_window: base.max_position_embeddings, head_dim: undefined, num_key_value_heads: undefined, rope_theta: undefined }, "c");
    expect(c).toMatchObject({ headDim: 8, nKvHeads: 4, ropeTheta: 10000 });
    const q = parseHfConfig({ ...hfConfigFor(randomLlama({ qkvBias: true }, 1), "qwen2"), sliding_window: 4, use_sliding_window: false }, "c");
    expect(q.qkvBias).toBe(true);
    expect(() => parseHfConfig({ ...hfConfigFor(randomLlama({ qkvBias: true }, 1), "qwen2"), use_sliding_window: true }, "c")).toThrow(/use_sliding_window/);
  });

  it("reports a missing lm_head and unexpected tensors", () => {
    const w = randomLlama({}, 23);
    const dir = tmp();
    writeHfFixture(dir, w);
    const cfg = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
    // untied config, but drop lm_head: rewrite with tied tensors and an untied config
    writeHfFixture(dir, { ...w, config: { ...w.config, tiedEmbeddings: true }, lmHead: w.tokenEmbedding });
    writeFileSync(join(dir, "config.json"), JSON.stringify(cfg));
    expect(() => loadHf(dir)).toThrow(/lm_head\.weight is missing .*tie_word_embeddings/);
    const dir2 = tmp();
    writeHfFixture(dir2, w);
    writeSafetensors(join(dir2, "model.safetensors"), {
      "model.layers.0.self_attn.o_proj.bias": { shape: [32], data: new Float32Array(32) },
    });
    expect(() => loadHf(dir2)).toThrow(/not found in the safetensors files/);
  });

  it("refuses tensors it would silently ignore", async () => {
    const w = randomLlama({}, 24);
    const dir = tmp();
    const { hfTensors } = await import("./hf-fixture.ts");
    writeHfFixture(dir, w);
    writeSafetensors(join(dir, "model.safetensors"), {
      ...hfTensors(w),
      "model.layers.0.self_attn.o_proj.bias": { shape: [32], data: new Float32Array(32) },
    });
    expect(() => loadHf(dir)).toThrow(/unexpected tensors .*o_proj\.bias/);
  });
});

describe("config.json of the other families", () => {
  const base = { hidden_size: 3072, intermediate_size: 8192, num_hidden_layers: 4, num_attention_heads: 32, num_key_value_heads: 32, vocab_size: 32064 };

  it("Phi-3 mini 128k: longrope with its attention factor, window on every layer", () => {
    const half = 48;
    const c = parseHfConfig({
      ...base, model_type: "phi3", max_position_embeddings: 131072, original_max_position_embeddings: 4096, sliding_window: 262144,
      rope_scaling: { type: "longrope", short_factor: Array(half).fill(1.05), long_factor: Array(half).fill(3.5) },
    }, "c");
    expect(c.rmsNormEps).toBe(1e-5); // Phi3Config's default
    expect(c.rope).toEqual({ type: "longrope", shortFactor: Array(half).fill(1.05), longFactor: Array(half).fill(3.5), originalContext: 4096, attentionFactor: Math.sqrt(1 + Math.log(32) / Math.log(4096)) });
    expect(c.slidingWindows).toBeUndefined(); // a window longer than the context never binds
    const mini4k = parseHfConfig({ ...base, model_type: "phi3", max_position_embeddings: 4096, sliding_window: 2047, rope_scaling: null }, "c");
    expect(mini4k.slidingWindows).toEqual([2047, 2047, 2047, 2047]);
    expect(() => parseHfConfig({ ...base, model_type: "phi3", rope_scaling: { type: "su", short_factor: [1], long_factor: [1] }, original_max_position_embeddings: 4096 }, "c"))
      .toThrow(/field "rope_scaling.short_factor" must be 48 positive numbers/);
    expect(() => parseHfConfig({ ...base, model_type: "phi3", rope_scaling: { type: "yarn", factor: 4 } }, "c")).toThrow(/"rope_scaling.rope_type" is "yarn": not implemented for model_type "phi3" \(supported: longrope, su\)/);
  });

  it("Gemma 2 defaults: soft-caps 50 / 30, query_pre_attn_scalar 256, head_dim 256, window 4096 on even layers, tied", () => {
    const c = parseHfConfig({ ...base, model_type: "gemma2", num_key_value_heads: 16, max_position_embeddings: 8192 }, "c");
    expect(c).toMatchObject({
      headDim: 256, tiedEmbeddings: true, activation: "gelu_tanh", sandwichNorms: true, attnScale: 1 / 16, attnSoftcap: 50, finalSoftcap: 30,
      embedScale: Math.fround(Math.sqrt(3072)), slidingWindows: [4096, null, 4096, null],
    });
    const noCaps = parseHfConfig({ ...base, model_type: "gemma2", attn_logit_softcapping: null, final_logit_softcapping: null, layer_types: ["full_attention", "sliding_attention", "full_attention", "full_attention"], sliding_window: 512 }, "c");
    expect(noCaps).toMatchObject({ slidingWindows: [null, 512, null, null] });
    expect(noCaps.attnSoftcap).toBeUndefined();
    expect(() => parseHfConfig({ ...base, model_type: "gemma2", layer_types: ["sliding_attention"] }, "c")).toThrow(/field "layer_types" is \["sliding_attention"\]: expected 4 entries/);
  });

  it("Gemma: plain RoPE only, no attention bias, hidden_activation over hidden_act", () => {
    expect(parseHfConfig({ ...base, model_type: "gemma", head_dim: 96, hidden_act: "gelu", hidden_activation: "gelu_pytorch_tanh" }, "c").activation).toBe("gelu_tanh");
    expect(parseHfConfig({ ...base, model_type: "gemma", hidden_act: "gelu" }, "c").activation).toBe("gelu_tanh"); // transformers ignores hidden_act for Gemma
    expect(() => parseHfConfig({ ...base, model_type: "gemma", rope_scaling: { type: "linear", factor: 2 } }, "c")).toThrow(/"rope_scaling.rope_type" is "linear": not implemented for model_type "gemma" \(supported: none/);
    expect(() => parseHfConfig({ ...base, model_type: "gemma", attention_bias: true }, "c")).toThrow(/field "attention_bias" is true/);
  });

  it("Mistral's sliding window defaults to 4096 when absent, none when null", () => {
    expect(parseHfConfig({ ...base, model_type: "mistral", max_position_embeddings: 32768 }, "c").slidingWindows).toEqual([4096, 4096, 4096, 4096]);
    expect(parseHfConfig({ ...base, model_type: "mistral", max_position_embeddings: 32768, sliding_window: null }, "c").slidingWindows).toBeUndefined();
  });

  it("Llama 3.1 rope_scaling", () => {
    const c = parseHfConfig({ ...base, model_type: "llama", rope_theta: 500000, rope_scaling: { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 } }, "c");
    expect(c.rope).toEqual({ type: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 8192 });
  });
});
