import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { hfConfigFor, writeHfFixture } from "./hf-fixture.ts";
import { loadHf, parseHfConfig } from "./hf.ts";
import { loadLlama2c } from "./llama2c.ts";
import { randomLlama } from "./random-model.ts";
import { newKvCache, referenceForward } from "./reference.ts";
import { writeSafetensors } from "./safetensors.ts";

const SHARED = join(import.meta.dirname, "../../../shared/models");
const tmp = () => mkdtempSync(join(tmpdir(), "sg-hf-"));
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
    ["model_type", { model_type: "gemma" }, /config\.json: field "model_type" is "gemma"; supported: llama, mistral, qwen2/],
    ["rope_scaling", { rope_scaling: { type: "linear", factor: 2 } }, /field "rope_scaling" is .*RoPE scaling/],
    ["hidden_act", { hidden_act: "gelu" }, /field "hidden_act" is "gelu"/],
    ["mlp_bias", { mlp_bias: true }, /field "mlp_bias" is true/],
    ["sliding_window", { sliding_window: 16 }, /field "sliding_window" is 16: sliding-window/],
    ["rope_parameters", { rope_parameters: { rope_type: "llama3", rope_theta: 5e5 } }, /field "rope_parameters.rope_type" is "llama3"/],
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
