import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { writeSafetensors, type WriteTensor } from "../model/safetensors.ts";
import { encode, reconstruct } from "./encode.ts";
import { loadSae, saveSaeLens } from "./load.ts";
import type { Sae } from "./types.ts";

const tmp = () => mkdtempSync(join(tmpdir(), "sg-sae-"));

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

function writeSaeLens(dir: string, w: Raw, cfg: Record<string, unknown>, opts: { dtype?: WriteTensor["dtype"]; drop?: string; transposeEnc?: boolean } = {}): string {
  mkdirSync(dir, { recursive: true });
  const tensors: Record<string, WriteTensor> = {
    W_enc: opts.transposeEnc
      ? { shape: [M, D], data: Float32Array.from({ length: M * D }, (_, n) => w.wEnc[n % D][Math.floor(n / D)]) }
      : { shape: [D, M], data: f32(w.wEnc), dtype: opts.dtype },
    W_dec: { shape: [M, D], data: f32(w.wDec), dtype: opts.dtype },
    b_enc: { shape: [M], data: Float32Array.from(w.bEnc), dtype: opts.dtype },
    b_dec: { shape: [D], data: Float32Array.from(w.bDec), dtype: opts.dtype },
    threshold: { shape: [M], data: Float32Array.from(w.threshold), dtype: opts.dtype },
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
    ["normalisation", () => writeSaeLens(join(tmp(), "norm"), w, { normalize_activations: "expected_average_only_in" }), /cfg\.json: field "normalize_activations"/],
    ["embedding hook", () => writeSaeLens(join(tmp(), "emb"), w, { hook_name: "blocks.0.hook_resid_pre" }), /cfg\.json: field "hook_name" is blocks\.0\.hook_resid_pre/],
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
      const back = loadSae(dir);
      expect({ ...back, source: "mem" }).toEqual(sae.layer === undefined ? { ...sae, layer: undefined } : sae);
      for (const x of inputs) expect(Array.from(reconstruct(back, x))).toEqual(Array.from(reconstruct(sae, x)));
    }
  });
});
