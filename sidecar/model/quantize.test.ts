import { describe, expect, it } from "vitest";
import { fromFloat16Array, halfToFloat, floatToHalf, toFloat16Array } from "./half.ts";
import { asStored, dequantizeBlockwise, kBlocks, layerPrecision, quantizeBlockwise } from "./quantize.ts";
import { gaussian, mulberry32, randomLlama } from "./random-model.ts";

const randn = (n: number, seed: number, scale = 1) => {
  const g = gaussian(mulberry32(seed));
  return Float32Array.from({ length: n }, () => g() * scale);
};

describe("block-wise quantization (MatMulNBits layout)", () => {
  it("8-bit: every value within half a step, the largest magnitude of each block exact", () => {
    const [rows, cols, bs] = [6, 80, 32]; // 80 = two full blocks and a padded one
    const w = randn(rows * cols, 1);
    const q = quantizeBlockwise(w, rows, cols, 8, bs);
    expect(q.packed.length).toBe(rows * kBlocks(cols, bs) * bs);
    expect(q.zeroPoints).toBeNull();
    const d = dequantizeBlockwise(q);
    for (let r = 0; r < rows; r++) {
      for (let b = 0; b < kBlocks(cols, bs); b++) {
        const s = Math.abs(q.scales[r * 3 + b]);
        let big = r * cols + b * bs;
        for (let c = b * bs; c < Math.min(cols, (b + 1) * bs); c++) {
          const i = r * cols + c;
          expect(Math.abs(d[i] - w[i])).toBeLessThanOrEqual(s / 2 + 1e-7);
          if (Math.abs(w[i]) > Math.abs(w[big])) big = i;
        }
        expect(d[big]).toBe(w[big]);
      }
    }
  });

  it("4-bit: asymmetric with zero points, no worse than the plain min/max range, zero exact", () => {
    const [rows, cols, bs] = [8, 64, 16];
    const w = randn(rows * cols, 2);
    w[5] = 0;
    const q = quantizeBlockwise(w, rows, cols, 4, bs);
    const nb = kBlocks(cols, bs);
    expect(q.packed.length).toBe(rows * nb * (bs / 2));
    expect(q.zeroPoints!.length).toBe(rows * Math.ceil(nb / 2));
    const d = dequantizeBlockwise(q);
    expect(d[5]).toBe(0); // the zero point makes 0 exact
    // the unclipped min/max quantizer, block by block
    let searched = 0;
    let plain = 0;
    for (let blk = 0; blk < rows * nb; blk++) {
      const r = Math.floor(blk / nb);
      const from = r * cols + (blk % nb) * bs;
      const x = w.subarray(from, from + bs);
      const lo = Math.min(0, ...x);
      const hi = Math.max(0, ...x);
      const s = Math.fround((hi - lo) / 15);
      const z = Math.round(-lo / s);
      for (let i = 0; i < bs; i++) {
        plain += ((Math.min(15, Math.max(0, Math.round(x[i] / s) + z)) - z) * s - x[i]) ** 2;
        searched += (d[from + i] - x[i]) ** 2;
      }
    }
    expect(searched).toBeLessThanOrEqual(plain);
    expect(searched).toBeGreaterThan(0);
  });

  it("packs two 4-bit values per byte, the even one in the low nibble", () => {
    // one block of 16: values -8..7 times 0.5 with zero at index 8 -> q = 0..15
    const w = Float32Array.from({ length: 16 }, (_, i) => (i - 8) * 0.5);
    w[15] = 3.5;
    const q = quantizeBlockwise(w, 1, 16, 4, 16);
    expect(q.scales[0]).toBeCloseTo(0.5, 6);
    expect(q.zeroPoints![0]).toBe(8);
    expect([...q.packed]).toEqual([0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe]);
    expect([...dequantizeBlockwise(q)]).toEqual([...w]);
  });

  it("an all-zero block has scale 0 and stays zero; bad shapes and block sizes are refused", () => {
    for (const bits of [4, 8] as const) {
      const q = quantizeBlockwise(new Float32Array(32), 1, 32, bits, 32);
      expect(q.scales[0] === 0).toBe(true);
      expect([...dequantizeBlockwise(q)].every((x) => x === 0)).toBe(true);
    }
    expect(() => quantizeBlockwise(new Float32Array(10), 2, 4, 8)).toThrow(/10 values for a \[2, 4\] matrix/);
    expect(() => quantizeBlockwise(new Float32Array(64), 1, 64, 4, 24)).toThrow(/power of two >= 16/);
  });

  it("int4 models keep k/v projections, down_proj and the head at 8 bits", () => {
    expect(["wq", "wk", "wv", "wo", "w1", "w2", "w3", "lmHead"].map((l) => layerPrecision("int4", l as never))).toEqual(
      ["int4", "int8", "int8", "int4", "int4", "int8", "int4", "int8"],
    );
    expect(layerPrecision("int8", "wq")).toBe("int8");
    expect(layerPrecision("fp16", "lmHead")).toBe("fp16");
  });

  it("asStored leaves norms and biases alone and keeps a tied fp16 head the embedding", () => {
    const w = randomLlama({ qkvBias: true, tiedEmbeddings: true }, 3);
    const s = asStored(w, "fp16");
    expect(s.lmHead).toBe(s.tokenEmbedding);
    expect(s.layers[0].bq).toBe(w.layers[0].bq);
    expect(s.layers[0].attnNorm).toBe(w.layers[0].attnNorm);
    expect(asStored(w, "fp32")).toBe(w);
    const q = asStored(w, "int4");
    expect(q.lmHead).not.toBe(q.tokenEmbedding);
  });
});

describe("half precision", () => {
  it("array conversion agrees with the scalar one, including subnormals, infinities and NaN", () => {
    const x = Float32Array.from([...randn(2000, 4, 3), 65504, 65520, 1e6, -1e6, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 1e-9, 0, -0, Infinity, -Infinity, NaN]);
    const h = toFloat16Array(x);
    x.forEach((v, i) => expect(h[i]).toBe(floatToHalf(v)));
    expect(h[2000 + 1]).toBe(0x7c00); // 65520 rounds up to infinity
  });

  it("every half bit pattern converts back exactly", () => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const f = fromFloat16Array(all);
    all.forEach((b, i) => {
      const want = halfToFloat(b);
      if (Number.isNaN(want)) expect(Number.isNaN(f[i])).toBe(true);
      else expect(f[i]).toBe(want);
    });
    // and round-trips
    const back = toFloat16Array(f);
    all.forEach((b, i) => {
      if (!Number.isNaN(f[i])) expect(back[i]).toBe(b);
    });
  });
});
