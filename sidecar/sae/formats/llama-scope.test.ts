import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { writeSafetensors, type WriteTensor } from "../../model/safetensors.ts";
import { describeSae } from "../describe.ts";
import { decode, encode } from "../encode.ts";
import { detectSaeLayout, loadSae } from "../load.ts";
import { tempDir } from "../../../test/support/tmp.ts";

const tmp = () => tempDir("sg-llamascope-");

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  };
}

const D = 8; // d_model
const M = 12; // d_sae

/** The checkpoint as stored (torch.nn.Linear layout). Values are multiples of 1/64 below 2, exact in bf16. */
interface Stored {
  E: number[][]; // encoder.weight [M][D]
  c: number[]; // encoder.bias [M]
  Dm: number[][]; // decoder.weight [D][M]
  b: number[]; // decoder.bias [D]
}

function stored(seed: number): Stored {
  const r = rng(seed);
  const q = () => Math.round(r() * 64) / 64;
  return {
    E: Array.from({ length: M }, () => Array.from({ length: D }, q)),
    c: Array.from({ length: M }, () => q() / 4),
    Dm: Array.from({ length: D }, () => Array.from({ length: M }, () => q() / 2)),
    b: Array.from({ length: D }, () => q() / 2),
  };
}

/** A hyperparams.json as the release writes it (fnlp/Llama3_1-8B-Base-LXR-8x, L13R), scaled down. */
function hyper(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    device: "cuda:0",
    seed: 42,
    dtype: "torch.bfloat16",
    hook_point_in: "blocks.2.hook_resid_post",
    hook_point_out: "blocks.2.hook_resid_post",
    use_decoder_bias: true,
    apply_decoder_bias_to_pre_encoder: false,
    expansion_factor: M / D,
    d_model: D,
    d_sae: M,
    bias_init_method: "all_zero",
    act_fn: "jumprelu",
    jump_relu_threshold: 0.25,
    norm_activation: "dataset-wise",
    dataset_average_activation_norm: { in: 3.5, out: 3.5 },
    decoder_exactly_fixed_norm: false,
    sparsity_include_decoder_norm: true,
    use_glu_encoder: false,
    init_decoder_norm: 0.5,
    init_encoder_norm: null,
    init_encoder_with_decoder_transpose: true,
    lp: 1,
    l1_coefficient: 8e-5,
    l1_coefficient_warmup_steps: 39062,
    top_k: 3,
    k_warmup_steps: 39062,
    use_batch_norm_mse: true,
    use_ghost_grads: false,
    tp_size: 1,
    ddp_size: 1,
    ...over,
  };
}

function writeLlamaScope(dir: string, h: Record<string, unknown>, w: Stored, opts: { dtype?: WriteTensor["dtype"]; noWeights?: boolean; drop?: string } = {}): string {
  mkdirSync(join(dir, "checkpoints"), { recursive: true });
  writeFileSync(join(dir, "hyperparams.json"), JSON.stringify(h, null, 4));
  writeFileSync(join(dir, "lm_config.json"), JSON.stringify({ model_name: "meta-llama/Llama-3.1-8B", d_model: D }));
  if (opts.noWeights) return dir;
  const t: Record<string, WriteTensor> = {
    "encoder.weight": { shape: [M, D], data: Float32Array.from(w.E.flat()), dtype: opts.dtype },
    "encoder.bias": { shape: [M], data: Float32Array.from(w.c), dtype: opts.dtype },
    "decoder.weight": { shape: [D, M], data: Float32Array.from(w.Dm.flat()), dtype: opts.dtype },
    "decoder.bias": { shape: [D], data: Float32Array.from(w.b), dtype: opts.dtype },
  };
  if (opts.drop) delete t[opts.drop];
  writeSafetensors(join(dir, "checkpoints", "final.safetensors"), t);
  return dir;
}

const colNorms = (Dm: number[][]) => Array.from({ length: M }, (_, i) => Math.sqrt(Dm.reduce((s, row) => s + row[i] ** 2, 0)));

/**
 * OpenMOSS lm-saes as it loads and runs a released checkpoint (src/lm_saes/sae.py
 * at 4ec6f0a: from_config, then encode/decode), transcribed in float64:
 * standardize_parameters_of_dataset_activation_scaling, transform_to_unit_decoder_norm,
 * topk -> jumprelu when jump_relu_threshold > 0; the input is then not rescaled.
 */
function openMoss(h: Record<string, any>, w: Stored, x: number[]): { f: number[]; recon: number[] } {
  let E = w.E.map((r) => [...r]);
  let c = [...w.c];
  let Dm = w.Dm.map((r) => [...r]);
  let b = h.use_decoder_bias === false ? Array(D).fill(0) : [...w.b];
  if (h.norm_activation === "dataset-wise") {
    const inF = Math.sqrt(h.d_model) / h.dataset_average_activation_norm.in;
    const outF = Math.sqrt(h.d_model) / h.dataset_average_activation_norm.out;
    c = c.map((v) => v / inF);
    b = b.map((v) => v / outF);
    Dm = Dm.map((row) => row.map((v) => (v * inF) / outF));
  }
  if (h.sparsity_include_decoder_norm ?? true) {
    const n = colNorms(Dm);
    Dm = Dm.map((row) => row.map((v, i) => v / n[i]));
    E = E.map((row, i) => row.map((v) => v * n[i]));
    c = c.map((v, i) => v * n[i]);
  }
  let act = h.act_fn;
  if (act === "topk" && h.jump_relu_threshold > 0) act = "jumprelu";
  const xin = h.use_decoder_bias !== false && h.apply_decoder_bias_to_pre_encoder ? x.map((v, j) => v - b[j]) : x;
  const pre = E.map((row, i) => row.reduce((s, v, j) => s + v * xin[j], c[i]));
  let f: number[];
  if (act === "relu") f = pre.map((p) => Math.max(p, 0));
  else if (act === "jumprelu") f = pre.map((p) => (p > h.jump_relu_threshold ? p : 0));
  else {
    const acts = pre.map((p) => Math.max(p, 0));
    const norms = colNorms(Dm);
    const score = (h.sparsity_include_decoder_norm ?? true) ? acts.map((a, i) => a * norms[i]) : acts;
    const keep = new Set(score.map((s, i) => [s, i]).sort((p, q) => q[0] - p[0] || p[1] - q[1]).slice(0, h.top_k).map((p) => p[1]));
    f = acts.map((a, i) => (keep.has(i) ? a : 0));
  }
  const recon = b.map((bj, j) => f.reduce((s, fi, i) => s + Dm[j][i] * fi, bj));
  return { f, recon };
}

/** The training-time forward (the input scaled to norm sqrt(d_model) on average, the output scaled back), TopK. */
function trainingTopK(h: Record<string, any>, w: Stored, x: number[]): { fired: number[]; recon: number[] } {
  const inF = Math.sqrt(D) / h.dataset_average_activation_norm.in;
  const outF = Math.sqrt(D) / h.dataset_average_activation_norm.out;
  const pre = w.E.map((row, i) => row.reduce((s, v, j) => s + v * inF * x[j], w.c[i]));
  const acts = pre.map((p) => Math.max(p, 0));
  const n = colNorms(w.Dm);
  const keep = acts.map((a, i) => [a * n[i], i]).sort((p, q) => q[0] - p[0] || p[1] - q[1]).slice(0, h.top_k).map((p) => p[1]);
  const f = acts.map((a, i) => (keep.includes(i) ? a : 0));
  const recon = w.b.map((bj, j) => f.reduce((s, fi, i) => s + w.Dm[j][i] * fi, bj) / outF);
  return { fired: f.flatMap((v, i) => (v > 0 ? [i] : [])), recon };
}

const inputs = Array.from({ length: 10 }, (_, n) => {
  const r = rng(200 + n);
  return Array.from({ length: D }, () => 2 * r());
});

function expectMatches(dir: string, h: Record<string, unknown>, w: Stored): number {
  const sae = loadSae(dir, { dModel: D, nLayers: 4 });
  let fired = 0;
  for (const x of inputs) {
    const want = openMoss(h, w, x);
    const f = encode(sae, x);
    f.forEach((v, i) => expect(v).toBeCloseTo(want.f[i], 4));
    expect(f.filter((v) => v !== 0).length).toBe(want.f.filter((v) => v !== 0).length);
    decode(sae, f).forEach((v, j) => expect(v).toBeCloseTo(want.recon[j], 4));
    fired += want.f.filter((v) => v !== 0).length;
  }
  return fired;
}

describe("Llama Scope (OpenMOSS) layout: our encode/decode equal OpenMOSS's on the raw residual", () => {
  const w = stored(1);

  it("the release's form: JumpReLU, dataset-wise norm, decoder norm in the sparsity (f32 and bf16 weights)", () => {
    for (const dtype of ["F32", "BF16"] as const) {
      const h = hyper();
      const dir = writeLlamaScope(join(tmp(), "Llama3_1-8B-Base-L2R-8x"), h, w, { dtype });
      expect(detectSaeLayout(dir)).toBe("llama-scope");
      const fired = expectMatches(dir, h, w);
      expect(fired).toBeGreaterThan(0);
      expect(fired).toBeLessThan(inputs.length * M);
      const sae = loadSae(dir);
      expect(sae).toMatchObject({ architecture: "jumprelu", dIn: D, dSae: M, layer: 2, applyBDecToInput: false, hook: "blocks.2.hook_resid_post" });
      expect(describeSae(sae)).toBe(
        "Llama Scope (OpenMOSS) hyperparams.json + checkpoints/final.safetensors, model meta-llama/Llama-3.1-8B; " +
          `dataset-wise norm (in 3.5, out 3.5) and decoder norms folded into the weights: JumpReLU, d_in ${D}, d_sae ${M}, layer 2 (blocks.2.hook_resid_post)`,
      );
    }
  });

  it("different input and output norms; hook_resid_pre is the previous block's output", () => {
    const h = hyper({ dataset_average_activation_norm: { in: 6.25, out: 1.5 }, hook_point_in: "blocks.3.hook_resid_pre", hook_point_out: "blocks.3.hook_resid_pre" });
    const dir = writeLlamaScope(join(tmp(), "sae"), h, w);
    expectMatches(dir, h, w);
    expect(loadSae(dir).layer).toBe(2);
  });

  it("TopK (k = top_k), and its reconstruction equals the training-time forward", () => {
    const h = hyper({ act_fn: "topk", jump_relu_threshold: 0, dataset_average_activation_norm: { in: 5, out: 2.5 } });
    const dir = writeLlamaScope(join(tmp(), "sae"), h, w);
    expectMatches(dir, h, w);
    const sae = loadSae(dir);
    expect(sae).toMatchObject({ architecture: "topk", k: 3 });
    for (const x of inputs) {
      const t = trainingTopK(h, w, x);
      const f = encode(sae, x);
      expect(Array.from(f).flatMap((v, i) => (v > 0 ? [i] : []))).toEqual([...t.fired].sort((a, b) => a - b));
      decode(sae, f).forEach((v, j) => expect(v).toBeCloseTo(t.recon[j], 4));
    }
  });

  it("TopK with jump_relu_threshold > 0 runs as JumpReLU (OpenMOSS' inference conversion)", () => {
    const h = hyper({ act_fn: "topk", jump_relu_threshold: 0.25 });
    const dir = writeLlamaScope(join(tmp(), "sae"), h, w);
    expectMatches(dir, h, w);
    expect(loadSae(dir).architecture).toBe("jumprelu");
  });

  it("ReLU with the decoder bias subtracted from the input, no decoder-norm folding, no normalisation", () => {
    const h = hyper({ act_fn: "relu", apply_decoder_bias_to_pre_encoder: true, sparsity_include_decoder_norm: false, norm_activation: "none" });
    const dir = writeLlamaScope(join(tmp(), "sae"), h, w);
    expectMatches(dir, h, w);
    expect(loadSae(dir)).toMatchObject({ architecture: "relu", applyBDecToInput: true });
  });

  it("without a decoder bias", () => {
    const h = hyper({ use_decoder_bias: false, apply_decoder_bias_to_pre_encoder: true });
    const dir = writeLlamaScope(join(tmp(), "sae"), h, w, { drop: "decoder.bias" });
    expectMatches(dir, h, w);
    expect(Array.from(loadSae(dir).bDec)).toEqual(Array(D).fill(0));
  });
});

describe("Llama Scope errors name the file and the field", () => {
  const w = stored(2);
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ["token-wise normalisation", { norm_activation: "token-wise", dataset_average_activation_norm: null }, /hyperparams\.json: field "norm_activation" is "token-wise": it scales each token by its own norm/],
    ["dataset-wise without the norms", { dataset_average_activation_norm: null }, /hyperparams\.json: field "dataset_average_activation_norm\.in" must be a positive number/],
    ["a transcoder", { hook_point_in: "blocks.2.ln2.hook_normalized", hook_point_out: "blocks.2.hook_mlp_out" }, /hyperparams\.json: field "hook_point_out" is "blocks\.2\.hook_mlp_out", not hook_point_in "blocks\.2\.ln2\.hook_normalized": transcoders are not supported/],
    ["an attention-output SAE", { hook_point_in: "blocks.2.hook_attn_out", hook_point_out: "blocks.2.hook_attn_out" }, /hyperparams\.json: field "hook_point_in" is "blocks\.2\.hook_attn_out": this SAE reads another site than the residual stream/],
    ["an unknown activation", { act_fn: "gelu" }, /hyperparams\.json: field "act_fn" is "gelu": unknown activation/],
    ["a negative threshold", { jump_relu_threshold: -0.1 }, /hyperparams\.json: field "jump_relu_threshold" is -0\.1/],
    ["a GLU encoder", { use_glu_encoder: true }, /hyperparams\.json: field "use_glu_encoder" is true/],
    ["top_k above d_sae", { act_fn: "topk", jump_relu_threshold: 0, top_k: 99 }, /hyperparams\.json: field "top_k" is 99, more than d_sae = 12/],
    ["no d_model", { d_model: undefined }, /hyperparams\.json: missing field "d_model"/],
  ];
  for (const [name, over, re] of cases) {
    it(name, () => {
      const dir = writeLlamaScope(join(tmp(), "sae"), hyper(over), w);
      expect(() => loadSae(dir)).toThrow(re);
      expect(() => loadSae(dir)).toThrow(dir);
    });
  }

  it("d_model that is not the model's, and a layer the model does not have", () => {
    const dir = writeLlamaScope(join(tmp(), "sae"), hyper({ hook_point_in: "blocks.30.hook_resid_post", hook_point_out: "blocks.30.hook_resid_post" }), w);
    expect(() => loadSae(dir, { dModel: 4096 })).toThrow(new RegExp(`${dir}/hyperparams\\.json: field "d_model" is 8, but the model's d_model is 4096`));
    expect(() => loadSae(dir, { dModel: D, nLayers: 26 })).toThrow(
      new RegExp(`${dir}/hyperparams\\.json: field "hook_point_in" is "blocks\\.30\\.hook_resid_post": layer 30 is out of range: the model has 26 layers \\(blocks 0-25\\)`),
    );
  });

  it("missing or mis-shaped weights", () => {
    const none = writeLlamaScope(join(tmp(), "sae"), hyper(), w, { noWeights: true });
    expect(() => loadSae(none)).toThrow(new RegExp(`${none}/checkpoints/final\\.safetensors: missing \\(Llama Scope layout needs it beside hyperparams\\.json\\)`));
    const noBias = writeLlamaScope(join(tmp(), "sae"), hyper(), w, { drop: "encoder.bias" });
    expect(() => loadSae(noBias)).toThrow(/final\.safetensors: missing tensor "encoder\.bias"/);
    const wide = writeLlamaScope(join(tmp(), "sae"), hyper({ d_sae: M + 1 }), w);
    expect(() => loadSae(wide)).toThrow(/final\.safetensors: tensor "encoder\.weight" has shape \[12, 8\], expected \[d_sae, d_model\] = \[13, 8\]/);
  });
});
