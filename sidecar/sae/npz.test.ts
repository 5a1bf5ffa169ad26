import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { encodeNpy } from "./npy.ts";
import { encodeNpz, readNpz, writeNpz } from "./npz.ts";
import { tempDir } from "../../test/support/tmp.ts";

const tmp = () => tempDir("sg-npz-");
const fixtures = join(import.meta.dirname, "fixtures");

/** Compression method of the first local file header of a zip. */
const firstMethod = (zip: Uint8Array) => zip[8] | (zip[9] << 8);

const arrays = {
  W_enc: encodeNpy([3, 4], Array.from({ length: 12 }, (_, i) => i / 4 - 1)),
  b_dec: encodeNpy([3], [0.5, -0.5, 2], { descr: "<f8" }),
  threshold: encodeNpy([4], [1, 2, 3, 4], { descr: ">f4" }),
};

describe("npz: write with fflate, read back", () => {
  for (const compress of [false, true]) {
    it(compress ? "deflated (np.savez_compressed)" : "stored (np.savez)", () => {
      const file = join(tmp(), "params.npz");
      writeNpz(file, arrays, { compress });
      expect(firstMethod(readFileSync(file))).toBe(compress ? 8 : 0);
      const { arrays: got, entries } = readNpz(file);
      expect(entries).toEqual(["W_enc.npy", "b_dec.npy", "threshold.npy"]);
      expect(got.get("W_enc")).toMatchObject({ shape: [3, 4], descr: "<f4" });
      expect(Array.from(got.get("W_enc")!.data)).toEqual(Array.from({ length: 12 }, (_, i) => i / 4 - 1));
      expect(Array.from(got.get("b_dec")!.data)).toEqual([0.5, -0.5, 2]);
      expect(Array.from(got.get("threshold")!.data)).toEqual([1, 2, 3, 4]);
      expect([...readNpz(file, ["b_dec"]).arrays.keys()]).toEqual(["b_dec"]);
    });
  }

  it("entries that are not .npy are listed but not read", () => {
    const file = join(tmp(), "mixed.npz");
    writeFileSync(file, encodeNpz({ a: encodeNpy([1], [1]) }));
    const { arrays: got, entries } = readNpz(file);
    expect(entries).toEqual(["a.npy"]);
    expect(got.size).toBe(1);
  });
});

describe("npz: files numpy wrote (fixtures/make-npz.py, numpy 2.4)", () => {
  for (const name of ["numpy-savez.npz", "numpy-savez-compressed.npz"]) {
    it(name, () => {
      const { arrays: a } = readNpz(join(fixtures, name));
      const get = (k: string) => Array.from(a.get(k)!.data);
      expect(a.get("c_f4")!.shape).toEqual([2, 3]);
      expect(get("c_f4")).toEqual([-0.5, -0.25, 0, 0.25, 0.5, 0.75]);
      expect(get("f8")).toEqual(Array.from(Float32Array.from([1.5, -2.25, 1e-3])));
      expect(get("f2")).toEqual([0.5, -1, 2, 65504]);
      expect(a.get("be_f4")!.descr).toBe(">f4");
      expect(get("be_f4")).toEqual([0.5, 1.5, 2.5, 3.5, 4.5, 5.5]);
      expect(a.get("fortran_f4")!.shape).toEqual([3, 4]);
      expect(get("fortran_f4")).toEqual(Array.from({ length: 12 }, (_, i) => i));
      expect(get("i8")).toEqual([-3, 0, 7]);
      expect(a.get("scalar")).toMatchObject({ shape: [] });
      expect(get("scalar")).toEqual([4]);
    });
  }
});

describe("npz: malformed input names the file (and the entry)", () => {
  it("not a zip", () => {
    const file = join(tmp(), "params.npz");
    writeFileSync(file, "not a zip at all, just text that is long enough to search");
    expect(() => readNpz(file)).toThrow(new RegExp(`${file}: not a readable zip archive \\(truncated, or not an \\.npz`));
  });

  it("a truncated archive", () => {
    for (const compress of [false, true]) {
      const file = join(tmp(), "params.npz");
      const whole = encodeNpz(arrays, { compress });
      writeFileSync(file, whole.subarray(0, whole.length - 60));
      expect(() => readNpz(file)).toThrow(new RegExp(`${file}: not a readable zip archive \\(truncated`));
    }
  });

  it("a corrupt entry names the entry", () => {
    const file = join(tmp(), "params.npz");
    const bad = encodeNpy([3], [1, 2, 3]);
    bad[0] = 0;
    writeNpz(file, { b_enc: bad });
    expect(() => readNpz(file)).toThrow(new RegExp(`${file}: entry "b_enc\\.npy": not a NumPy \\.npy array \\(bad magic`));
  });

  it("a truncated entry names the entry", () => {
    const file = join(tmp(), "params.npz");
    writeNpz(file, { b_enc: encodeNpy([3], [1, 2, 3]).subarray(0, 130) }, { compress: true });
    expect(() => readNpz(file)).toThrow(new RegExp(`${file}: entry "b_enc\\.npy": truncated data: shape \\[3\\] of '<f4' needs 12 bytes, found 2`));
  });

  it("an unsupported dtype names the entry and the dtype", () => {
    const file = join(tmp(), "params.npz");
    const u2 = encodeNpy([2], [1, 2]);
    const text = new TextDecoder("latin1").decode(u2).replace("'<f4'", "'<u2'");
    writeNpz(file, { threshold: Uint8Array.from(text, (c) => c.charCodeAt(0)) });
    expect(() => readNpz(file)).toThrow(new RegExp(`${file}: entry "threshold\\.npy": unsupported dtype '<u2'`));
  });

  it("a missing file", () => {
    expect(() => readNpz(join(tmp(), "nope.npz"))).toThrow(/ENOENT/);
  });
});
