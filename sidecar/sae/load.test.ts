import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { writeSafetensors, type WriteTensor } from "../model/safetensors.ts";
import { decode, encode, reconstruct } from "./encode.ts";
import { describeSae, detectSaeLayout, loadSae, saveSaeLens } from "./load.ts";
import type { Sae } from "./types.ts";
import { tempDir } from "../../test/support/tmp.ts";

const tmp = () => tempDir("sg-sae-");

/** Seeded uniform [-1, 1). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  };
}

const D = 5;
const M = 7;

interface Raw {
  wEnc: number[][]; // [D][M]
  bEnc: number[];
  wDec: number[][]; // [M][D]
  bDec: number[];
  threshold: number[];
}

function raw(seed: number): Raw {
  const r = rng(seed);
  return {
    wEnc: Array.from({ length: D }, () => Array.from({ length: M }, r)),
    bEnc: Array.from({ length: M }, () => 0.2 * r()),
    wDec: Array.from({ length: M }, () => Array.from({ length: D }, r)),
    bDec: Array.from({ length: D }, () => 0.3 * r()),
    threshold: Array.from({ length: M }, () => 0.3 + 0.2 * r()),
  };
}

/** The test's own encoder: written out per architecture, independent of encode.ts. */
function expected(w: Raw, x: number[], arch: "relu" | "jumprelu" | "topk", k: number, subtractBDec: boolean): number[] {
  const pre: number[] = [];
  for (let j = 0; j < M; j++) {
    let s = w.bEnc[j];
    for (let i = 0; i < D; i++) s += w.wEnc[i][j] * (subtractBDec ? x[i] - w.bDec[i] : x[i]);
    pre.push(s);
  }
  if (arch === "relu") return pre.map((p) => Math.max(0, p));
  if (arch === "jumprelu") return pre.map((p, j) => (p > w.threshold[j] ? p : 0));
  const kth = [...pre].sort((a, b) => b - a)[k - 1];
  return pre.map((p) => (p >= kth && p > 0 ? p : 0));
}

const f32 = (rows: number[][]) => Float32Array.from(rows.flat());

function writeSaeLens(
  dir: string,
  w: Raw,
  cfg: Record<string, unknown>,
  opts: { dtype?: WriteTensor["dtype"]; drop?: string; transposeEnc?: boolean; extra?: Record<string, WriteTensor> } = {},
): string {
  mkdirSync(dir, { recursive: true });
  const tensors: Record<string, WriteTensor> = {
    W_enc: opts.transposeEnc
      ? { shape: [M, D], data: Float32Array.from({ length: M * D }, (_, n) => w.wEnc[n % D][Math.floor(n / D)]) }
      : { shape: [D, M], data: f32(w.wEnc), dtype: opts.dtype },
    W_dec: { shape: [M, D], data: f32(w.wDec), dtype: opts.dtype },
    b_enc: { shape: [M], data: Float32Array.from(w.bEnc), dtype: opts.dtype },
    b_dec: { shape: [D], data: Float32Array.from(w.bDec), dtype: opts.dtype },
    threshold: { shape: [M], data: Float32Array.from(w.threshold), dtype: opts.dtype },
    ...opts.extra,
  };
  if (opts.drop) delete tensors[opts.drop];
  writeSafetensors(join(dir, "sae_weights.safetensors"), tensors);
  writeFileSync(join(dir, "cfg.json"), JSON.stringify({ d_in: D, d_sae: M, ...cfg }));
  return dir;
}

function writeSparsify(dir: string, w: Raw, cfg: Record<string, unknown>, drop?: string): string {
  mkdirSync(dir, { recursive: true });
  const tensors: Record<string, WriteTensor> = {
    // sparsify stores the encoder as nn.Linear: [num_latents, d_in]
    "encoder.weight": { shape: [M, D], data: Float32Array.from({ length: M * D }, (_, n) => w.wEnc[n % D][Math.floor(n / D)]) },
    "encoder.bias": { shape: [M], data: Float32Array.from(w.bEnc) },
    W_dec: { shape: [M, D], data: f32(w.wDec) },
    b_dec: { shape: [D], data: Float32Array.from(w.bDec) },
  };
  if (drop) delete tensors[drop];
  writeSafetensors(join(dir, "sae.safetensors"), tensors);
  writeFileSync(join(dir, "cfg.json"), JSON.stringify(cfg));
  return dir;
}

const inputs = Array.from({ length: 6 }, (_, n) => Array.from({ length: D }, rng(100 + n)));

function expectEncodes(sae: Sae, w: Raw, arch: "relu" | "jumprelu" | "topk", k: number, subtract: boolean, tol = 1e-5): void {
  for (const x of inputs) {
    const got = Array.from(encode(sae, x));
    const want = expected(w, x, arch, k, subtract);
    got.forEach((g, j) => expect(g).toBeCloseTo(want[j], -Math.log10(tol)));
    expect(got.filter((v) => v !== 0).length).toBe(want.filter((v) => v !== 0).length);
  }
}

describe("loadSae: SAELens layout", () => {
  it("standard (ReLU) SAE, layer from hook_name resid_post", () => {
    const w = raw(1);
    const sae = loadSae(writeSaeLens(join(tmp(), "relu"), w, { architecture: "standard", hook_name: "blocks.3.hook_resid_post", apply_b_dec_to_input: true }), { dModel: D });
    expect(sae).toMatchObject({ architecture: "relu", dIn: D, dSae: M, layer: 3, applyBDecToInput: true });
    expectEncodes(sae, w, "relu", 0, true);
  });

  it("ReLU without apply_b_dec_to_input; hook_resid_pre is the previous block's output", () => {
    const w = raw(2);
    const sae = loadSae(writeSaeLens(join(tmp(), "relu2"), w, { hook_name: "blocks.3.hook_resid_pre", apply_b_dec_to_input: false }));
    expect(sae).toMatchObject({ architecture: "relu", layer: 2, applyBDecToInput: false });
    expectEncodes(sae, w, "relu", 0, false);
  });

  it("JumpReLU SAE with threshold (stored as F16: values within half precision)", () => {
    const w = raw(3);
    const sae = loadSae(writeSaeLens(join(tmp(), "jump"), w, { architecture: "jumprelu", hook_name: "blocks.0.hook_resid_post" }));
    expect(sae).toMatchObject({ architecture: "jumprelu", layer: 0 });
    expect(Array.from(sae.threshold!)).toEqual(Array.from(Float32Array.from(w.threshold)));
    expectEncodes(sae, w, "jumprelu", 0, true);
    const half = loadSae(writeSaeLens(join(tmp(), "jump16"), w, { architecture: "jumprelu" }, { dtype: "F16" }));
    expect(half.layer).toBeUndefined();
    for (const x of inputs) {
      const a = encode(half, x), b = encode(sae, x);
      // values that pass in both agree to half precision
      a.forEach((v, j) => (v !== 0 && b[j] !== 0 ? expect(v).toBeCloseTo(b[j], 2) : undefined));
    }
  });

  it("TopK SAE: architecture topk, or standard + activation_fn topk, k from activation_fn_kwargs", () => {
    const w = raw(4);
    for (const [name, cfg] of [
      ["topk", { architecture: "topk", activation_fn: "topk", activation_fn_kwargs: { k: 3 } }],
      ["std-topk", { architecture: "standard", activation_fn_str: "topk", activation_fn_kwargs: { k: 3 } }],
      ["bf16", { architecture: "topk", k: 3 }],
    ] as const) {
      const sae = loadSae(writeSaeLens(join(tmp(), name), w, cfg, { dtype: name === "bf16" ? "BF16" : undefined }));
      expect(sae).toMatchObject({ architecture: "topk", k: 3 });
      if (name !== "bf16") expectEncodes(sae, w, "topk", 3, true);
    }
  });
});

describe("loadSae: EleutherAI sparsify layout", () => {
  it("transposes encoder.weight, subtracts b_dec, takes the layer from the folder name", () => {
    const w = raw(5);
    const dir = writeSparsify(join(tmp(), "layers.4"), w, { expansion_factor: 1, normalize_decoder: true, num_latents: M, k: 2, d_in: D });
    const sae = loadSae(dir, { dModel: D });
    expect(sae).toMatchObject({ architecture: "topk", k: 2, dIn: D, dSae: M, layer: 4, applyBDecToInput: true });
    expectEncodes(sae, w, "topk", 2, true);
    expect(describeSae(sae)).toBe(`EleutherAI sparsify cfg.json + sae.safetensors: TopK (k 2), d_in ${D}, d_sae ${M}, layer 4 (layers.4)`);
    expect(() => loadSae(dir, { dModel: D, nLayers: 4 })).toThrow(new RegExp(`${dir}: folder name "layers\\.4": layer 4 is out of range: the model has 4 layers`));
  });
});

/** Features of one input, SAELens-style: pre = (x_in - b_dec·apply) W_enc + b_enc, then the activation. */
function preActs(w: Raw, x: number[], subtract: boolean): number[] {
  return w.bEnc.map((b, j) => w.wEnc.reduce((s, row, i) => s + row[j] * (subtract ? x[i] - w.bDec[i] : x[i]), b));
}
const decodeRaw = (w: Raw, f: number[]) => w.bDec.map((b, i) => f.reduce((s, fj, j) => s + fj * w.wDec[j][i], b));
const rowNorms = (w: Raw) => w.wDec.map((row) => Math.hypot(...row));

describe("loadSae: SAELens releases of Gemma Scope and Llama Scope, SAELens 6 fields", () => {
  const w = raw(11);
  const gemmaV6 = {
    architecture: "jumprelu", dtype: "float32", device: "cpu", apply_b_dec_to_input: false, normalize_activations: "none", reshape_activations: "none",
    metadata: {
      sae_lens_version: "6.12.1", sae_lens_training_version: "6.12.1", model_name: "gemma-2-2b", hook_name: "blocks.3.hook_resid_post",
      hook_head_index: null, prepend_bos: true, dataset_path: "monology/pile-uncopyrighted", context_size: 1024, neuronpedia_id: "gemma-2-2b/3-gemmascope-res-16k",
    },
  };
  // the fields of SAELens' get_gemma_2_config_from_hf (before 6.0)
  const gemmaPre6 = {
    architecture: "jumprelu", dtype: "float32", model_name: "gemma-2-2b", hook_name: "blocks.3.hook_resid_post", hook_layer: 3, hook_head_index: null,
    activation_fn_str: "relu", finetuning_scaling_factor: false, sae_lens_training_version: null, prepend_bos: true, dataset_path: "monology/pile-uncopyrighted",
    context_size: 1024, dataset_trust_remote_code: true, apply_b_dec_to_input: false, normalize_activations: null,
  };
  // Llama Scope as SAELens saves it once loaded (the input scale folded: normalize_activations "none")
  const llamaV6 = { ...gemmaV6, metadata: { ...gemmaV6.metadata, model_name: "meta-llama/Llama-3.1-8B", dataset_path: "cerebras/SlimPajama-627B" } };

  for (const [name, cfg, described] of [
    ["Gemma Scope, SAELens 6", gemmaV6, "SAELens 6.12.1 cfg.json + sae_weights.safetensors, model gemma-2-2b"],
    ["Gemma Scope, SAELens before 6", gemmaPre6, "SAELens cfg.json + sae_weights.safetensors, model gemma-2-2b"],
    ["Llama Scope, SAELens 6", llamaV6, "SAELens 6.12.1 cfg.json + sae_weights.safetensors, model meta-llama/Llama-3.1-8B"],
  ] as const) {
    it(name, () => {
      const sae = loadSae(writeSaeLens(join(tmp(), "s"), w, cfg), { dModel: D, nLayers: 4 });
      expect(sae).toMatchObject({ architecture: "jumprelu", layer: 3, applyBDecToInput: false, hook: "blocks.3.hook_resid_post" });
      expectEncodes(sae, w, "jumprelu", 0, false);
      expect(describeSae(sae)).toBe(`${described}: JumpReLU, d_in ${D}, d_sae ${M}, layer 3 (blocks.3.hook_resid_post)`);
    });
  }

  it("SAELens 6 TopK: k at the top level; rescale_acts_by_decoder_norm folded", () => {
    const cfg = { architecture: "topk", k: 3, rescale_acts_by_decoder_norm: true, apply_b_dec_to_input: true, metadata: { hook_name: "blocks.1.hook_resid_post" } };
    const sae = loadSae(writeSaeLens(join(tmp(), "topk"), w, cfg));
    expect(sae).toMatchObject({ architecture: "topk", k: 3, layer: 1 });
    expect(sae.format).toMatch(/decoder norms folded \(rescale_acts_by_decoder_norm\)$/);
    const n = rowNorms(w);
    for (const x of inputs) {
      // SAELens TopKSAE: hidden_pre * |W_dec row|, top k then ReLU; decode (f / |W_dec row|) W_dec + b_dec
      const pre = preActs(w, x, true).map((p, j) => p * n[j]);
      const kth = [...pre].sort((a, b) => b - a)[2];
      const f = pre.map((p) => (p >= kth && p > 0 ? p : 0));
      const got = encode(sae, x);
      got.forEach((v, j) => expect(v).toBeCloseTo(f[j], 4));
      decode(sae, got).forEach((v, i) => expect(v).toBeCloseTo(decodeRaw(w, f.map((fj, j) => fj / n[j]))[i], 4));
    }
  });

  it("expected_average_only_in with the scale in activation_scaler.json: folded", () => {
    const dir = writeSaeLens(join(tmp(), "scaled"), w, { architecture: "jumprelu", normalize_activations: "expected_average_only_in", hook_name: "blocks.2.hook_resid_post" });
    writeFileSync(join(dir, "activation_scaler.json"), JSON.stringify({ scaling_factor: 2.5 }));
    const sae = loadSae(dir);
    expect(sae.format).toMatch(/input scale 2\.5 from activation_scaler\.json folded$/);
    for (const x of inputs) {
      // training: the input scaled by s, the output scaled back
      const pre = preActs(w, x.map((v) => v * 2.5), true);
      const f = pre.map((p, j) => (p > w.threshold[j] && p > 0 ? p : 0));
      const got = encode(sae, x);
      got.forEach((v, j) => expect(v).toBeCloseTo(f[j], 4));
      decode(sae, got).forEach((v, i) => expect(v).toBeCloseTo(decodeRaw(w, f)[i] / 2.5, 4));
    }
    writeFileSync(join(dir, "activation_scaler.json"), JSON.stringify({ scaling_factor: null }));
    expect(() => loadSae(dir)).toThrow(/activation_scaler\.json: field "scaling_factor" must be a positive number, got null/);
  });

  it("finetuning_scaling_factor: the scaling_factor tensor folded into W_dec", () => {
    const sf = Array.from({ length: M }, (_, j) => 0.5 + j / 4);
    const dir = writeSaeLens(join(tmp(), "ft"), w, { finetuning_scaling_factor: true }, { extra: { scaling_factor: { shape: [M], data: Float32Array.from(sf) } } });
    const sae = loadSae(dir);
    for (const x of inputs) {
      const f = preActs(w, x, true).map((p) => Math.max(p, 0));
      decode(sae, encode(sae, x)).forEach((v, i) => expect(v).toBeCloseTo(decodeRaw(w, f.map((fj, j) => fj * sf[j]))[i], 4));
    }
  });

  it("a layer the model does not have (top-level and SAELens 6 metadata hook names)", () => {
    const flat = writeSaeLens(join(tmp(), "far"), w, { hook_name: "blocks.6.hook_resid_post" });
    expect(() => loadSae(flat, { dModel: D, nLayers: 4 })).toThrow(
      new RegExp(`${flat}/cfg\\.json: field "hook_name" is "blocks\\.6\\.hook_resid_post": layer 6 is out of range: the model has 4 layers \\(blocks 0-3\\)`),
    );
    const v6 = writeSaeLens(join(tmp(), "far6"), w, { metadata: { hook_name: "blocks.5.hook_resid_pre" } });
    expect(() => loadSae(v6, { nLayers: 4 })).toThrow(/cfg\.json: field "metadata\.hook_name" is "blocks\.5\.hook_resid_pre": layer 4 is out of range: the model has 4 layers \(blocks 0-3\)/);
    expect(loadSae(v6, { nLayers: 5 }).layer).toBe(4);
  });
});

describe("loadSae errors name the file and the field", () => {
  const w = raw(7);
  const cases: [string, () => string, RegExp][] = [
    ["wrong shape", () => writeSaeLens(join(tmp(), "shape"), w, {}, { transposeEnc: true }), /sae_weights\.safetensors: tensor "W_enc" has shape \[7, 5\], expected \[d_in, d_sae\] = \[5, 7\]/],
    ["missing tensor", () => writeSaeLens(join(tmp(), "miss"), w, {}, { drop: "b_dec" }), /sae_weights\.safetensors: missing tensor "b_dec"/],
    ["unknown architecture", () => writeSaeLens(join(tmp(), "gated"), w, { architecture: "gated" }), /cfg\.json: field "architecture" is "gated": unknown architecture/],
    ["unknown activation", () => writeSaeLens(join(tmp(), "act"), w, { activation_fn: "tanh" }), /cfg\.json: field "activation_fn" is "tanh"/],
    ["topk without k", () => writeSaeLens(join(tmp(), "nok"), w, { architecture: "topk" }), /cfg\.json: missing field "activation_fn_kwargs\.k"/],
    ["missing d_sae", () => writeSaeLens(join(tmp(), "nodsae"), w, { d_sae: undefined }), /cfg\.json: missing field "d_sae"/],
    ["jumprelu without threshold", () => writeSaeLens(join(tmp(), "nothr"), w, { architecture: "jumprelu" }, { drop: "threshold" }), /sae_weights\.safetensors: missing tensor "threshold"/],
    ["normalisation without its scale", () => writeSaeLens(join(tmp(), "norm"), w, { normalize_activations: "expected_average_only_in" }), /cfg\.json: field "normalize_activations" is "expected_average_only_in", but the input scale is not in the files \(no activation_scaler\.json beside it\)/],
    ["embedding hook", () => writeSaeLens(join(tmp(), "emb"), w, { hook_name: "blocks.0.hook_resid_pre" }), /cfg\.json: field "hook_name" is "blocks\.0\.hook_resid_pre": the input of block 0/],
    ["non-residual hook", () => writeSaeLens(join(tmp(), "mlp"), w, { hook_name: "blocks.3.hook_mlp_out" }), /cfg\.json: field "hook_name" is "blocks\.3\.hook_mlp_out": this SAE reads another site than the residual stream/],
    ["SAELens 6 transcoder", () => writeSaeLens(join(tmp(), "tc"), w, { metadata: { hook_name: "blocks.3.ln2.hook_normalized", hook_name_out: "blocks.3.hook_mlp_out" } }), /cfg\.json: field "metadata\.hook_name_out" is "blocks\.3\.hook_mlp_out", not the input hook "blocks\.3\.ln2\.hook_normalized": transcoders are not supported/],
    ["per-token normalisation", () => writeSaeLens(join(tmp(), "ln"), w, { normalize_activations: "layer_norm" }), /cfg\.json: field "normalize_activations" is "layer_norm": a per-token normalisation cannot be folded/],
    ["rescale on a JumpReLU SAE", () => writeSaeLens(join(tmp(), "resc"), w, { architecture: "jumprelu", rescale_acts_by_decoder_norm: true }), /cfg\.json: field "rescale_acts_by_decoder_norm" is true for a jumprelu SAE/],
    ["sparsify missing bias", () => writeSparsify(join(tmp(), "sp"), w, { num_latents: M, k: 2, d_in: D }, "encoder.bias"), /sae\.safetensors: missing tensor "encoder\.bias"/],
    ["sparsify without k", () => writeSparsify(join(tmp(), "sp2"), w, { num_latents: M, d_in: D }), /cfg\.json: missing field "k"/],
    ["sparsify expansion mismatch", () => writeSparsify(join(tmp(), "sp3"), w, { num_latents: 0, expansion_factor: 1, k: 2, d_in: D }), /sae\.safetensors: tensor "encoder\.weight" has shape \[7, 5\], expected \[num_latents, d_in\] = \[5, 5\]/],
  ];
  for (const [name, make, re] of cases) {
    it(name, () => {
      const dir = make();
      expect(() => loadSae(dir)).toThrow(re);
      expect(() => loadSae(dir)).toThrow(dir);
    });
  }

  it("d_in that does not match the model's d_model", () => {
    const dir = writeSaeLens(join(tmp(), "dm"), w, {});
    expect(() => loadSae(dir, { dModel: 64 })).toThrow(new RegExp(`${dir}/cfg\\.json: field "d_in" is 5, but the model's d_model is 64`));
  });

  it("a folder without SAE files lists what is there", () => {
    const dir = tmp();
    writeFileSync(join(dir, "notes.txt"), "");
    expect(() => loadSae(dir)).toThrow(/no SAE found: expected cfg\.json \+ sae_weights\.safetensors .* found notes\.txt/);
    expect(() => loadSae(join(dir, "nope"))).toThrow(/SAE folder not found/);
  });

  it("the error says what each layout needs, and points at SAE folders below", () => {
    const root = tmp();
    for (const l of [0, 1]) {
      const sub = join(root, `layer_${l}`, "width_16k", "average_l0_5");
      mkdirSync(sub, { recursive: true });
      writeFileSync(join(sub, "params.npz"), "");
    }
    let msg = "";
    try {
      detectSaeLayout(root);
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toContain("cfg.json + sae_weights.safetensors (SAELens), or cfg.json + sae.safetensors (EleutherAI sparsify), or params.npz (Gemma Scope");
    expect(msg).toContain("hyperparams.json + checkpoints/final.safetensors (Llama Scope / OpenMOSS lm-saes)");
    expect(msg).toContain("found layer_0, layer_1; SAE folders below it: layer_0/width_16k/average_l0_5, layer_1/width_16k/average_l0_5, ... (pass one of them)");
  });
});

describe("saveSaeLens", () => {
  it("round-trips every architecture through loadSae", () => {
    const w = raw(8);
    const base = { dIn: D, dSae: M, wEnc: f32(w.wEnc), bEnc: Float32Array.from(w.bEnc), wDec: f32(w.wDec), bDec: Float32Array.from(w.bDec), source: "mem" };
    const saes: Sae[] = [
      { ...base, architecture: "relu", applyBDecToInput: false, layer: 1 },
      { ...base, architecture: "jumprelu", threshold: Float32Array.from(w.threshold), applyBDecToInput: true, layer: 0 },
      { ...base, architecture: "topk", k: 3, applyBDecToInput: true },
    ];
    for (const sae of saes) {
      const dir = join(tmp(), sae.architecture);
      saveSaeLens(dir, sae, { model_name: "m", heldout_fve: 0.9, d_in: 999 });
      const { format, hook, ...back } = loadSae(dir);
      expect(format).toBe("SAELens cfg.json + sae_weights.safetensors, model m");
      expect(hook).toBe(sae.layer === undefined ? undefined : `blocks.${sae.layer}.hook_resid_post`);
      expect({ ...back, source: "mem" }).toEqual(sae.layer === undefined ? { ...sae, layer: undefined } : sae);
      for (const x of inputs) expect(Array.from(reconstruct(back, x))).toEqual(Array.from(reconstruct(sae, x)));
    }
  });
});
