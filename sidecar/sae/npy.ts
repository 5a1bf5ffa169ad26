/**
 * NumPy `.npy` arrays (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html),
 * read into float32 and written (for tests and fixtures).
 *
 * Layout: the magic `\x93NUMPY`, a major and a minor version byte, the header
 * length (2 bytes little-endian in version 1, 4 bytes in versions 2 and 3),
 * then the header: a Python dict literal such as
 * `{'descr': '<f4', 'fortran_order': False, 'shape': (2304, 16384), }`,
 * padded with spaces and a newline (ASCII in versions 1 and 2, UTF-8 in 3);
 * then the raw elements.
 *
 * Read: float16 / float32 / float64 and int32 / int64, either byte order
 * (`<` little, `>` big, `=` native, which is little on every platform we run);
 * Fortran-order arrays are transposed to C order. Object arrays (pickles) and
 * structured dtypes are refused. Every error names `what` (the file, and the
 * entry of an .npz).
 */
import { floatToHalf, halfToFloat } from "../model/half.ts";

export interface NpyArray {
  shape: number[];
  /** The elements in C (row-major) order, converted to float32. */
  data: Float32Array;
  /** The dtype as the file spelled it, e.g. "<f4". */
  descr: string;
}

export interface NpyHeader {
  descr: string;
  fortranOrder: boolean;
  shape: number[];
  /** Byte offset of the first element. */
  dataOffset: number;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** Element kinds we read: byte size per element. */
const KINDS: Record<string, number> = { f2: 2, f4: 4, f8: 8, i4: 4, i8: 8 };
export const NPY_SUPPORTED = "float16, float32, float64, int32, int64 ('<f2', '<f4', '<f8', '<i4', '<i8', or big-endian '>...')";

/** Parses the magic, version and header dict of an .npy file. */
export function parseNpyHeader(bytes: Uint8Array, what: string): NpyHeader {
  if (bytes.length < 10 || !MAGIC.every((b, i) => bytes[i] === b)) {
    const head = Array.from(bytes.subarray(0, 6), (b) => b.toString(16).padStart(2, "0")).join(" ");
    throw new Error(`${what}: not a NumPy .npy array (bad magic: expected 93 4e 55 4d 50 59 "\\x93NUMPY", found ${head || "nothing"})`);
  }
  const major = bytes[6];
  let headerLen: number;
  let start: number;
  if (major === 1) {
    headerLen = bytes[8] | (bytes[9] << 8);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new Error(`${what}: truncated .npy header`);
    headerLen = new DataView(bytes.buffer, bytes.byteOffset + 8, 4).getUint32(0, true);
    start = 12;
  } else {
    throw new Error(`${what}: unsupported .npy format version ${major}.${bytes[7]} (supported: 1.x, 2.x, 3.x)`);
  }
  if (start + headerLen > bytes.length) throw new Error(`${what}: truncated .npy header (${headerLen} bytes announced, ${bytes.length - start} present)`);
  const text = new TextDecoder(major === 3 ? "utf-8" : "latin1").decode(bytes.subarray(start, start + headerLen));
  return { ...parseHeaderDict(text, what), dataOffset: start + headerLen };
}

function parseHeaderDict(text: string, what: string): Omit<NpyHeader, "dataOffset"> {
  const descrM = /['"]descr['"]\s*:\s*(['"])([^'"]*)\1/.exec(text);
  if (!descrM) {
    if (/['"]descr['"]\s*:\s*\[/.test(text)) throw new Error(`${what}: structured dtype (header ${text.trim()}): only plain numeric arrays are read`);
    throw new Error(`${what}: .npy header has no "descr" (header ${text.trim()})`);
  }
  const fortranM = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(text);
  if (!fortranM) throw new Error(`${what}: .npy header has no "fortran_order" (header ${text.trim()})`);
  const shapeM = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(text);
  if (!shapeM) throw new Error(`${what}: .npy header has no "shape" (header ${text.trim()})`);
  const parts = shapeM[1].split(",").map((s) => s.trim()).filter((s) => s !== "");
  const shape = parts.map((p) => {
    const n = /^\d+L?$/.test(p) ? Number.parseInt(p, 10) : NaN;
    if (!Number.isSafeInteger(n)) throw new Error(`${what}: .npy header shape (${shapeM[1]}) is not a tuple of integers`);
    return n;
  });
  return { descr: descrM[2], fortranOrder: fortranM[1] === "True", shape };
}

/** Reads one .npy array (the whole file's bytes) as float32 in C order. */
export function parseNpy(bytes: Uint8Array, what: string): NpyArray {
  const h = parseNpyHeader(bytes, what);
  const { order, kind } = splitDescr(h.descr, what);
  const size = KINDS[kind];
  const count = h.shape.reduce((a, b) => a * b, 1);
  const have = bytes.length - h.dataOffset;
  if (have < count * size) {
    throw new Error(`${what}: truncated data: shape [${h.shape.join(", ")}] of '${h.descr}' needs ${count * size} bytes, found ${have}`);
  }
  if (have > count * size) {
    throw new Error(`${what}: ${have - count * size} bytes after the data of shape [${h.shape.join(", ")}] '${h.descr}' (a corrupt or mis-sized array)`);
  }
  const raw = convert(bytes, h.dataOffset, count, kind, order === "<");
  const data = h.fortranOrder && h.shape.length > 1 ? fortranToC(raw, h.shape) : raw;
  return { shape: h.shape, data, descr: h.descr };
}

function splitDescr(descr: string, what: string): { order: "<" | ">"; kind: string } {
  const m = /^([<>=|]?)([a-zA-Z]\d*)$/.exec(descr);
  if (m && m[2] === "O") throw new Error(`${what}: dtype '${descr}' is an object array (a Python pickle): refused; only numeric arrays are read`);
  if (!m || !(m[2] in KINDS)) throw new Error(`${what}: unsupported dtype '${descr}' (supported: ${NPY_SUPPORTED})`);
  // '=' is native order; every platform numpy writes these releases on, and ours, is little-endian.
  return { order: m[1] === ">" ? ">" : "<", kind: m[2] };
}

function convert(bytes: Uint8Array, offset: number, count: number, kind: string, little: boolean): Float32Array {
  const start = bytes.byteOffset + offset;
  // Fast path: aligned little-endian float32 is a view on the bytes (no copy).
  if (kind === "f4" && little && start % 4 === 0) return new Float32Array(bytes.buffer, start, count);
  const view = new DataView(bytes.buffer, start, count * KINDS[kind]);
  const out = new Float32Array(count);
  switch (kind) {
    case "f4":
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, little);
      break;
    case "f8":
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(8 * i, little);
      break;
    case "f2":
      for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(2 * i, little));
      break;
    case "i4":
      for (let i = 0; i < count; i++) out[i] = view.getInt32(4 * i, little);
      break;
    case "i8":
      for (let i = 0; i < count; i++) out[i] = Number(view.getBigInt64(8 * i, little));
      break;
  }
  return out;
}

/**
 * For each C-order (row-major) position of `shape`, the position of the same
 * element in Fortran (column-major) order.
 */
function fortranIndex(shape: number[]): Float64Array {
  const n = shape.length;
  const count = shape.reduce((a, b) => a * b, 1);
  const fStride = new Array<number>(n); // Fortran strides: axis 0 is contiguous
  for (let a = 0, s = 1; a < n; a++) {
    fStride[a] = s;
    s *= shape[a];
  }
  const out = new Float64Array(count);
  const idx = new Array<number>(n).fill(0);
  for (let c = 0; c < count; c++) {
    let f = 0;
    for (let a = 0; a < n; a++) f += idx[a] * fStride[a];
    out[c] = f;
    for (let a = n - 1; a >= 0; a--) {
      if (++idx[a] < shape[a]) break;
      idx[a] = 0;
    }
  }
  return out;
}

/** Column-major (Fortran) elements of `shape` to row-major (C) order. */
export function fortranToC(src: ArrayLike<number>, shape: number[]): Float32Array {
  if (shape.length === 2) {
    const [rows, cols] = shape;
    const out = new Float32Array(rows * cols);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[i * cols + j] = src[j * rows + i];
    return out;
  }
  const f = fortranIndex(shape);
  const out = new Float32Array(f.length);
  for (let c = 0; c < f.length; c++) out[c] = src[f[c]];
  return out;
}

export interface NpyWriteOptions {
  /** '<f4' (default), '>f4', '<f2', '<f8', '<i4', ... */
  descr?: string;
  /** Write the elements in Fortran order (the header says so). */
  fortranOrder?: boolean;
  /** Format version (1 default; 2 and 3 use a 4-byte header length). */
  version?: 1 | 2 | 3;
}

/**
 * Encodes a C-order array as .npy bytes, as numpy writes them: the header
 * padded with spaces and ended by a newline so the data starts at a multiple of 64.
 */
export function encodeNpy(shape: number[], data: ArrayLike<number>, opts: NpyWriteOptions = {}): Uint8Array {
  const descr = opts.descr ?? "<f4";
  const { order, kind } = splitDescr(descr, "encodeNpy");
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new Error(`encodeNpy: shape [${shape.join(", ")}] does not hold ${data.length} values`);
  const version = opts.version ?? 1;
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  let dict = `{'descr': '${descr}', 'fortran_order': ${opts.fortranOrder ? "True" : "False"}, 'shape': ${shapeText}, }`;
  const pre = version === 1 ? 10 : 12;
  const pad = (64 - ((pre + dict.length + 1) % 64)) % 64;
  dict += " ".repeat(pad) + "\n";
  const header = new TextEncoder().encode(dict);
  const size = KINDS[kind];
  const out = new Uint8Array(pre + header.length + count * size);
  out.set(MAGIC, 0);
  out[6] = version;
  out[7] = 0;
  const dv = new DataView(out.buffer);
  if (version === 1) dv.setUint16(8, header.length, true);
  else dv.setUint32(8, header.length, true);
  out.set(header, pre);
  const values = opts.fortranOrder && shape.length > 1 ? cToFortran(data, shape) : data;
  const little = order === "<";
  const base = pre + header.length;
  for (let i = 0; i < count; i++) {
    const v = values[i];
    const at = base + i * size;
    if (kind === "f4") dv.setFloat32(at, v, little);
    else if (kind === "f8") dv.setFloat64(at, v, little);
    else if (kind === "f2") dv.setUint16(at, floatToHalf(v), little);
    else if (kind === "i4") dv.setInt32(at, v, little);
    else dv.setBigInt64(at, BigInt(Math.trunc(v)), little);
  }
  return out;
}

function cToFortran(data: ArrayLike<number>, shape: number[]): Float64Array {
  const f = fortranIndex(shape);
  const out = new Float64Array(f.length);
  for (let c = 0; c < f.length; c++) out[f[c]] = data[c];
  return out;
}
