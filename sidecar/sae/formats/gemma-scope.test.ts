import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { describeSae } from "../describe.ts";
import { decode, encode } from "../encode.ts";
import { detectSaeLayout, loadSae } from "../load.ts";
import { encodeNpy } from "../npy.ts";
import { writeNpz } from "../npz.ts";
import { tempDir } from "../../../test/support/tmp.ts";

const tmp = () => tempDir("sg-gemma-");

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  };
}

const D = 6; // d_in
const M = 10; // d_sae

interface Params {
  W_enc: number[][]; // [D][M]
  W_dec: number[][]; // [M][D]
  b_enc: number[];
  b_dec: number[];
  threshold: number[];
}

function params(seed: number): Params {
  const r = rng(seed);
  return {
    W_enc: Array.from({ length: D }, () => Array.from({ length: M }, r)),
    W_dec: Array.from({ length: M }, () => Array.from({ length: D }, r)),
    b_enc: Array.from({ length: M }, () => 0.2 * r()),
    b_dec: Array.from({ length: D }, () => 0.5 * r()),
    threshold: Array.from({ length: M }, () => 0.4 + 0.3 * r()),
  };
}

/** The Gemma Scope tutorial's JumpReLUSAE, in float64: encode then decode. */
function tutorial(p: Params, x: number[]): { acts: number[]; recon: number[] } {
  const acts = p.b_enc.map((b, j) => {
    let pre = b;
    for (let i = 0; i < D; i++) pre += x[i] * p.W_enc[i][j];
    return pre > p.threshold[j] ? Math.max(pre, 0) : 0;
  });
  const recon = p.b_dec.map((b, i) => acts.reduce((s, a, j) => s + a * p.W_dec[j][i], b));
  return { acts, recon };
}

const f32 = (rows: number[][]) => Float32Array.from(rows.flat());

/** Writes params.npz (+ the hparams.json the release has beside it) into `dir`. */
function writeGemmaScope(dir: string, p: Params, opts: { compress?: boolean; drop?: keyof Params; lower?: boolean; extra?: Record<string, Uint8Array> } = {}): string {
  mkdirSync(dir, { recursive: true });
  const npys: Record<string, Uint8Array> = {
    [opts.lower ? "w_enc" : "W_enc"]: encodeNpy([D, M], f32(p.W_enc)),
    W_dec: encodeNpy([M, D], f32(p.W_dec)),
    b_enc: encodeNpy([M], p.b_enc),
    b_dec: encodeNpy([D], p.b_dec),
    threshold: encodeNpy([M], p.threshold),
    ...opts.extra,
  };
  if (opts.drop) delete npys[opts.drop];
  writeNpz(join(dir, "params.npz"), npys, { compress: opts.compress });
  writeFileSync(join(dir, "hparams.json"), JSON.stringify({ l1_coefficient: 0.001 }));
  return dir;
}

const releaseDir = (root: string, layer = 3) => join(root, "gemma-scope-2b-pt-res", `layer_${layer}`, "width_16k", "average_l0_5");
const inputs = Array.from({ length: 8 }, (_, n) => Array.from({ length: D }, () => 1.5 * rng(50 + n)()));

describe("Gemma Scope params.npz", () => {
  for (const compress of [false, true]) {
    it(`encodes and decodes like the tutorial's JumpReLUSAE (${compress ? "deflated" : "stored"} npz)`, () => {
      const p = params(1);
      const dir = writeGemmaScope(releaseDir(tmp()), p, { compress });
      expect(detectSaeLayout(dir)).toBe("gemma-scope");
      const sae = loadSae(dir, { dModel: D, nLayers: 4 });
      expect(sae).toMatchObject({ architecture: "jumprelu", dIn: D, dSae: M, layer: 3, applyBDecToInput: false, hook: "blocks.3.hook_resid_post" });
      let fired = 0;
      for (const x of inputs) {
        const want = tutorial(p, x);
        const acts = encode(sae, x);
        acts.forEach((a, j) => expect(a).toBeCloseTo(want.acts[j], 4));
        decode(sae, acts).forEach((v, i) => expect(v).toBeCloseTo(want.recon[i], 4));
        fired += want.acts.filter((a) => a !== 0).length;
      }
      expect(fired).toBeGreaterThan(0);
      expect(fired).toBeLessThan(inputs.length * M); // the thresholds gate some
      expect(describeSae(sae)).toBe(`Gemma Scope params.npz: JumpReLU, d_in ${D}, d_sae ${M}, layer 3 (blocks.3.hook_resid_post)`);
    });
  }

  it("takes the params.npz path itself, and a Hugging Face cache path", () => {
    const p = params(2);
    const root = join(tmp(), "models--google--gemma-scope-2b-pt-res", "snapshots", "abc123");
    const file = join(writeGemmaScope(join(root, "layer_7", "width_16k", "average_l0_71"), p), "params.npz");
    expect(detectSaeLayout(file)).toBe("gemma-scope");
    const sae = loadSae(file);
    expect(sae).toMatchObject({ layer: 7, source: file, format: "Gemma Scope params.npz" });
  });

  it("a path without the repo name: read as residual, and the format says so; without layer_N: no layer", () => {
    const p = params(3);
    const withLayer = loadSae(writeGemmaScope(join(tmp(), "layer_2", "width_16k", "average_l0_9"), p));
    expect(withLayer.layer).toBe(2);
    expect(describeSae(withLayer)).toMatch(/^Gemma Scope params\.npz \(no gemma-scope-\*-res repo name in the path: read as a residual-stream SAE\): JumpReLU/);
    const bare = loadSae(writeGemmaScope(join(tmp(), "my-sae"), p));
    expect(bare.layer).toBeUndefined();
    expect(describeSae(bare)).toMatch(/no layer in its files \(give the layer\)$/);
  });

  it("lowercase w_ keys (SAELens renames them) and a scaling_factor folded into W_dec", () => {
    const p = params(4);
    const sf = Array.from({ length: M }, (_, j) => 0.5 + j / M);
    const dir = writeGemmaScope(releaseDir(tmp()), p, { lower: true, extra: { scaling_factor: encodeNpy([M], sf) } });
    const sae = loadSae(dir);
    expect(sae.format).toBe("Gemma Scope params.npz; scaling_factor folded into W_dec");
    for (const x of inputs) {
      const want = tutorial(p, x);
      const scaled = want.acts.map((a, j) => a * sf[j]);
      const recon = p.b_dec.map((b, i) => scaled.reduce((s, a, j) => s + a * p.W_dec[j][i], b));
      decode(sae, encode(sae, x)).forEach((v, i) => expect(v).toBeCloseTo(recon[i], 4));
    }
  });
});

describe("Gemma Scope errors name the file and the entry or path component", () => {
  const p = params(9);

  it("d_in that does not match the model's d_model", () => {
    const dir = releaseDir(tmp());
    writeGemmaScope(dir, p);
    expect(() => loadSae(dir, { dModel: 2304 })).toThrow(
      new RegExp(`${dir}/params\\.npz: entry "W_enc\\.npy" has shape \\[6, 10\\], so d_in is 6, but the model's d_model is 2304`),
    );
  });

  it("a layer the model does not have", () => {
    const dir = releaseDir(tmp(), 30);
    writeGemmaScope(dir, p);
    expect(() => loadSae(dir, { dModel: D, nLayers: 26 })).toThrow(
      new RegExp(`${dir}/params\\.npz: path component "layer_30": layer 30 is out of range: the model has 26 layers \\(blocks 0-25\\)`),
    );
  });

  it("MLP, attention and transcoder releases, and embedding SAEs, are refused", () => {
    for (const [repo, re] of [
      ["gemma-scope-2b-pt-mlp", /path component "gemma-scope-2b-pt-mlp": this SAE reads the MLP output/],
      ["gemma-scope-9b-pt-att", /path component "gemma-scope-9b-pt-att": this SAE reads the attention output/],
      ["gemma-scope-2b-pt-transcoders", /path component "gemma-scope-2b-pt-transcoders": this SAE reads an MLP transcoder/],
    ] as const) {
      const dir = writeGemmaScope(join(tmp(), repo, "layer_1", "width_16k", "average_l0_5"), p);
      expect(() => loadSae(dir)).toThrow(re);
    }
    const emb = writeGemmaScope(join(tmp(), "gemma-scope-2b-pt-res", "embedding", "width_4k", "average_l0_6"), p);
    expect(() => loadSae(emb)).toThrow(/path component "embedding": an SAE on the embeddings/);
  });

  it("a missing entry lists what is there; a wrong shape gives the expected one", () => {
    const dir = writeGemmaScope(releaseDir(tmp()), p, { drop: "threshold" });
    expect(() => loadSae(dir)).toThrow(new RegExp(`${dir}/params\\.npz: missing entry "threshold\\.npy" \\(found: W_enc\\.npy, W_dec\\.npy, b_enc\\.npy, b_dec\\.npy\\)`));
    const bad = writeGemmaScope(releaseDir(tmp()), p, { extra: { b_dec: encodeNpy([D + 1], Array(D + 1).fill(0)) } });
    expect(() => loadSae(bad)).toThrow(new RegExp(`${bad}/params\\.npz: entry "b_dec\\.npy" has shape \\[7\\], expected \\[d_in\\] = \\[6\\]`));
  });

  it("an unsupported dtype names the file, the entry and the dtype", () => {
    const u1 = encodeNpy([M], Array(M).fill(0));
    const text = new TextDecoder("latin1").decode(u1).replace("'<f4'", "'|u1'");
    const dir = writeGemmaScope(releaseDir(tmp()), p, { extra: { threshold: Uint8Array.from(text, (c) => c.charCodeAt(0)) } });
    expect(() => loadSae(dir)).toThrow(new RegExp(`${dir}/params\\.npz: entry "threshold\\.npy": unsupported dtype '\\|u1'`));
  });

  it("a file that is not an .npz", () => {
    const dir = tmp();
    writeFileSync(join(dir, "weights.bin"), "x");
    expect(() => loadSae(join(dir, "weights.bin"))).toThrow(/weights\.bin: a file: an SAE is a folder with cfg\.json \+ sae_weights\.safetensors \(SAELens\)/);
  });
});
