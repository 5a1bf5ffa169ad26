import { describe, expect, it } from "vitest";
import { encodeNpy, fortranToC, parseNpy, parseNpyHeader } from "./npy.ts";

const values = [0.5, -1.25, 3, 2 ** -10, -7.5, 65504]; // exact in float16 too

describe("npy: write and read back", () => {
  for (const descr of ["<f4", ">f4", "<f8", ">f8", "<f2", ">f2", "<i4", ">i8", "=f4"]) {
    it(`${descr}, 2-D`, () => {
      const src = descr.includes("i") ? values.map(Math.trunc) : values;
      const a = parseNpy(encodeNpy([2, 3], src, { descr }), "x.npy");
      expect(a.shape).toEqual([2, 3]);
      expect(a.descr).toBe(descr);
      expect(Array.from(a.data)).toEqual(Array.from(Float32Array.from(src)));
    });
  }

  it("the data starts at a multiple of 64, as numpy pads it; versions 2 and 3 read too", () => {
    for (const version of [1, 2, 3] as const) {
      const bytes = encodeNpy([3], [1, 2, 3], { version });
      const h = parseNpyHeader(bytes, "v.npy");
      expect(h.dataOffset % 64).toBe(0);
      expect(Array.from(parseNpy(bytes, "v.npy").data)).toEqual([1, 2, 3]);
    }
  });

  it("aligned little-endian float32 is read without a copy", () => {
    const bytes = encodeNpy([2, 3], values);
    const a = parseNpy(bytes, "x.npy");
    expect(a.data.buffer).toBe(bytes.buffer);
  });

  it("Fortran-order arrays are transposed to C order (2-D and 3-D)", () => {
    const c = Array.from({ length: 24 }, (_, i) => i);
    const two = parseNpy(encodeNpy([4, 6], c, { fortranOrder: true }), "f.npy");
    expect(Array.from(two.data)).toEqual(c);
    const three = parseNpy(encodeNpy([2, 3, 4], c, { fortranOrder: true, descr: ">f8" }), "f.npy");
    expect(three.shape).toEqual([2, 3, 4]);
    expect(Array.from(three.data)).toEqual(c);
    // element (i, j) of a 2x3 stored column-major sits at j * 2 + i
    expect(Array.from(fortranToC([0, 3, 1, 4, 2, 5], [2, 3]))).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it("scalars and empty arrays", () => {
    expect(parseNpy(encodeNpy([], [4]), "s.npy")).toMatchObject({ shape: [] });
    expect(parseNpy(encodeNpy([0, 5], []), "e.npy").data.length).toBe(0);
  });
});

describe("npy: malformed input names the file and entry", () => {
  const what = "/x/params.npz: entry \"W_enc.npy\"";
  const good = encodeNpy([2, 3], values);

  it("bad magic", () => {
    const bad = good.slice();
    bad[1] = 0x58;
    expect(() => parseNpy(bad, what)).toThrow(/\/x\/params\.npz: entry "W_enc\.npy": not a NumPy \.npy array \(bad magic/);
    expect(() => parseNpy(new Uint8Array(3), what)).toThrow(/bad magic/);
  });

  it("unsupported version", () => {
    const bad = good.slice();
    bad[6] = 9;
    expect(() => parseNpy(bad, what)).toThrow(/entry "W_enc\.npy": unsupported \.npy format version 9\.0/);
  });

  it("truncated header", () => {
    expect(() => parseNpy(good.subarray(0, 40), what)).toThrow(/entry "W_enc\.npy": truncated \.npy header/);
  });

  it("truncated data", () => {
    expect(() => parseNpy(good.subarray(0, good.length - 5), what)).toThrow(
      /entry "W_enc\.npy": truncated data: shape \[2, 3\] of '<f4' needs 24 bytes, found 19/,
    );
  });

  it("bytes after the data", () => {
    const long = new Uint8Array(good.length + 4);
    long.set(good);
    expect(() => parseNpy(long, what)).toThrow(/entry "W_enc\.npy": 4 bytes after the data/);
  });

  /** A version 1.0 .npy with this header dict and `dataBytes` zero bytes of data. */
  function withHeader(dict: string, dataBytes: number): Uint8Array {
    const pad = (64 - ((10 + dict.length + 1) % 64)) % 64;
    const header = dict + " ".repeat(pad) + "\n";
    const out = new Uint8Array(10 + header.length + dataBytes);
    out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length & 0xff, header.length >> 8]);
    out.set(Uint8Array.from(header, (ch) => ch.charCodeAt(0)), 10);
    return out;
  }

  it("unsupported dtype names the dtype", () => {
    const bytes = withHeader("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", 16);
    expect(() => parseNpy(bytes, what)).toThrow(/entry "W_enc\.npy": unsupported dtype '<c8' \(supported: float16, float32/);
  });

  it("object arrays (pickles) are refused", () => {
    const bytes = withHeader("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", 16);
    expect(() => parseNpy(bytes, what)).toThrow(/entry "W_enc\.npy": dtype '\|O' is an object array \(a Python pickle\): refused/);
  });

  it("structured dtypes and headers without a field", () => {
    const structured = withHeader("{'descr': [('a', '<f4'), ('b', '<f4')], 'fortran_order': False, 'shape': (2,), }", 16);
    expect(() => parseNpy(structured, what)).toThrow(/entry "W_enc\.npy": structured dtype/);
    const noShape = withHeader("{'descr': '<f4', 'fortran_order': False, }", 0);
    expect(() => parseNpy(noShape, what)).toThrow(/entry "W_enc\.npy": \.npy header has no "shape"/);
    const badShape = withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", 0);
    expect(() => parseNpy(badShape, what)).toThrow(/not a tuple of integers/);
  });
});
