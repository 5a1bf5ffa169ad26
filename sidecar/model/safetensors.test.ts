import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { floatToHalf, halfToFloat } from "./half.ts";
import { encodeSafetensors, readSafetensors, readSafetensorsDir, writeSafetensors } from "./safetensors.ts";
import { randomLlama } from "./random-model.ts";
import { writeHfFixture } from "./hf-fixture.ts";
import { tempDir } from "../../test/support/tmp.ts";

const tmp = () => tempDir("sg-st-");

describe("safetensors", () => {
  it("round-trips F32 exactly and F16/BF16 to their precision", () => {
    const dir = tmp();
    const data = Float32Array.from([0, 1, -2.5, 3.14159, 1e-3, -65504, 1e-7]);
    writeSafetensors(join(dir, "a.safetensors"), {
      f32: { shape: [7], data },
      f16: { shape: [7], data, dtype: "F16" },
      bf16: { shape: [1, 7], data, dtype: "BF16" },
    });
    const t = readSafetensors(join(dir, "a.safetensors"));
    expect(Array.from(t.get("f32")!.data)).toEqual(Array.from(data));
    expect(t.get("bf16")!.shape).toEqual([1, 7]);
    data.forEach((x, i) => {
      // half has 11 significant bits (relative step 2^-10), bf16 has 8 (2^-7)
      expect(Math.abs(t.get("f16")!.data[i] - x)).toBeLessThanOrEqual(Math.abs(x) / 1024 + 2 ** -25);
      expect(Math.abs(t.get("bf16")!.data[i] - x)).toBeLessThanOrEqual(Math.abs(x) / 128);
    });
  });

  it("converts half-precision bit patterns", () => {
    expect(halfToFloat(0x3c00)).toBe(1);
    expect(halfToFloat(0xc000)).toBe(-2);
    expect(halfToFloat(0x7bff)).toBe(65504);
    expect(halfToFloat(0x0001)).toBe(2 ** -24);
    expect(halfToFloat(0x7c00)).toBe(Infinity);
    for (const x of [1, -2, 0.5, 65504, 2 ** -24, 0.1]) expect(halfToFloat(floatToHalf(x))).toBeCloseTo(x, 3);
  });

  it("pads the header to 8 bytes and stores data after it", () => {
    const buf = encodeSafetensors({ x: { shape: [2], data: Float32Array.from([1, 2]) } });
    const len = Number(buf.readBigUInt64LE(0));
    expect(len % 8).toBe(0);
    expect(buf.length).toBe(8 + len + 8);
  });

  it("rejects unsupported dtypes naming file and tensor", () => {
    const dir = tmp();
    const header = JSON.stringify({ ids: { dtype: "I64", shape: [1], data_offsets: [0, 8] } });
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.length));
    writeFileSync(join(dir, "b.safetensors"), Buffer.concat([len, Buffer.from(header), Buffer.alloc(8)]));
    expect(() => readSafetensors(join(dir, "b.safetensors"))).toThrow(/b\.safetensors: tensor ids: unsupported dtype I64/);
  });

  it("loads a sharded checkpoint through model.safetensors.index.json", () => {
    const dir = tmp();
    const w = randomLlama({}, 3);
    writeHfFixture(dir, w, { shards: 3 });
    const { tensors, files } = readSafetensorsDir(dir);
    expect(files).toHaveLength(4); // index + 3 shards
    expect(tensors.size).toBe(1 + 9 * 2 + 2);
    expect(Array.from(tensors.get("model.layers.1.mlp.down_proj.weight")!.data)).toEqual(Array.from(w.layers[1].w2));
  });

  it("names a tensor listed in the index but missing from its shard", () => {
    const dir = tmp();
    writeSafetensors(join(dir, "s1.safetensors"), { a: { shape: [1], data: Float32Array.from([1]) } });
    writeFileSync(join(dir, "model.safetensors.index.json"), JSON.stringify({ weight_map: { a: "s1.safetensors", b: "s1.safetensors" } }));
    expect(() => readSafetensorsDir(dir)).toThrow(/tensor b is listed in shard s1\.safetensors/);
  });
});
