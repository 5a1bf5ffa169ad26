/**
 * A small reader and writer for the safetensors format
 * (https://huggingface.co/docs/safetensors).
 *
 * File layout: an 8-byte little-endian unsigned header length N, then N bytes
 * of JSON `{ name: { dtype, shape, data_offsets: [begin, end] }, "__metadata__"?: {...} }`,
 * then the raw little-endian tensor bytes; offsets are relative to the end of
 * the header. Sharded checkpoints add `model.safetensors.index.json` whose
 * `weight_map` maps each tensor name to its shard file.
 *
 * Reading converts F32, F16, BF16 (and F64) to Float32Array; other dtypes are
 * rejected with the file and tensor named.
 */
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fromFloat16Array, toFloat16Array } from "./half.ts";
import type { LazyTensor } from "./lazy-tensor.ts";

export interface Tensor {
  shape: number[];
  data: Float32Array;
}

export type SafetensorsDtype = "F32" | "F16" | "BF16" | "F64";

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

const BYTES_PER_ELEMENT: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2, F64: 8 };

/** Parses the JSON header (the bytes after the 8-byte length) of one safetensors file. */
export function parseSafetensorsHeader(headerJson: Buffer, file: string): { entries: Map<string, HeaderEntry>; metadata: Record<string, string> } {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(headerJson.toString("utf8")) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${file}: header is not valid JSON (${(e as Error).message})`);
  }
  const entries = new Map<string, HeaderEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(json)) {
    if (name === "__metadata__") metadata = (value ?? {}) as Record<string, string>;
    else entries.set(name, value as HeaderEntry);
  }
  return { entries, metadata };
}

/** One tensor of a safetensors file, read from disk (and converted to float32) on each `load()`. */
export interface StoredTensor extends LazyTensor {
  name: string;
  shape: number[];
  dtype: string;
  file: string;
}

/**
 * Reads the header of one safetensors file and returns its tensors unread:
 * each `load()` reads that tensor alone through a file descriptor, so shards
 * larger than 2 GB work and only one tensor need be in memory at a time.
 */
export function openSafetensors(file: string): Map<string, StoredTensor> {
  const fd = openSync(file, "r");
  let entries: Map<string, HeaderEntry>;
  let dataStart: number;
  let size: number;
  try {
    size = fstatSync(fd).size;
    const lenBuf = Buffer.alloc(8);
    if (size < 8 || readSync(fd, lenBuf, 0, 8, 0) !== 8) throw new Error(`${file}: too short to be a safetensors file`);
    const headerLen = Number(lenBuf.readBigUInt64LE(0));
    if (headerLen > size - 8) throw new Error(`${file}: header length ${headerLen} exceeds file size`);
    const headerBuf = Buffer.alloc(headerLen);
    readSync(fd, headerBuf, 0, headerLen, 8);
    entries = parseSafetensorsHeader(headerBuf, file).entries;
    dataStart = 8 + headerLen;
  } finally {
    closeSync(fd);
  }
  const out = new Map<string, StoredTensor>();
  for (const [name, e] of entries) {
    const [begin, end] = e.data_offsets;
    if (dataStart + end > size || end < begin) throw new Error(`${file}: tensor ${name} extends past the end of the file`);
    const count = e.shape.reduce((a, b) => a * b, 1);
    const what = `${file}: tensor ${name}`;
    if (!(e.dtype in BYTES_PER_ELEMENT)) throw new Error(`${what}: unsupported dtype ${e.dtype} (supported: F32, F16, BF16, F64)`);
    const dtype = e.dtype as SafetensorsDtype;
    // checked with the header, so a bad file fails when opened, not halfway through a build
    if (end - begin !== count * BYTES_PER_ELEMENT[dtype]) throw new Error(`${what}: ${end - begin} bytes for ${count} ${dtype} elements`);
    const load = () => toFloat32(readRange(file, dataStart + begin, end - begin, what), dtype, count);
    out.set(name, { name, shape: [...e.shape], dtype: e.dtype, file, length: count, load });
  }
  return out;
}

/** `length` bytes of `file` from `position`, in a fresh (so aligned) buffer. */
function readRange(file: string, position: number, length: number, what: string): Uint8Array {
  const fd = openSync(file, "r");
  try {
    const bytes = new Uint8Array(length);
    for (let done = 0; done < length; ) {
      const n = readSync(fd, bytes, done, Math.min(length - done, 1 << 30), position + done);
      if (n <= 0) throw new Error(`${what}: short read`);
      done += n;
    }
    return bytes;
  } finally {
    closeSync(fd);
  }
}

/** Reads every tensor of one safetensors file as float32. */
export function readSafetensors(file: string): Map<string, Tensor> {
  return readAll(openSafetensors(file));
}

/**
 * Opens a checkpoint directory: `model.safetensors.index.json` (sharded) when
 * present, else `model.safetensors`. Returns every tensor unread and the files
 * it comes from; checks every indexed tensor is present in its shard.
 */
export function openSafetensorsDir(dir: string): { tensors: Map<string, StoredTensor>; files: string[] } {
  const indexFile = join(dir, "model.safetensors.index.json");
  if (!existsSync(indexFile)) {
    const single = join(dir, "model.safetensors");
    if (!existsSync(single)) throw new Error(`${dir}: neither model.safetensors nor model.safetensors.index.json found`);
    return { tensors: openSafetensors(single), files: [single] };
  }
  const index = JSON.parse(readFileSync(indexFile, "utf8")) as { weight_map?: Record<string, string> };
  if (!index.weight_map) throw new Error(`${indexFile}: missing "weight_map"`);
  const shards = [...new Set(Object.values(index.weight_map))].sort();
  const tensors = new Map<string, StoredTensor>();
  const files = [indexFile];
  for (const shard of shards) {
    const path = join(dirname(indexFile), shard);
    files.push(path);
    for (const [name, t] of openSafetensors(path)) tensors.set(name, t);
  }
  for (const [name, shard] of Object.entries(index.weight_map)) {
    if (!tensors.has(name)) throw new Error(`${indexFile}: tensor ${name} is listed in shard ${shard} but not found there`);
  }
  return { tensors, files };
}

/** Reads a whole checkpoint directory into memory (see openSafetensorsDir). */
export function readSafetensorsDir(dir: string): { tensors: Map<string, Tensor>; files: string[] } {
  const { tensors, files } = openSafetensorsDir(dir);
  return { tensors: readAll(tensors), files };
}

function readAll(tensors: Map<string, StoredTensor>): Map<string, Tensor> {
  return new Map([...tensors].map(([name, t]) => [name, { shape: t.shape, data: t.load() }]));
}

/** Converts little-endian raw bytes (a whole, hence aligned, buffer from readRange) of a safetensors dtype to float32. */
function toFloat32(bytes: Uint8Array, dtype: SafetensorsDtype, count: number): Float32Array {
  const aligned = bytes.buffer;
  switch (dtype) {
    case "F32":
      return new Float32Array(aligned);
    case "F64":
      return Float32Array.from(new Float64Array(aligned));
    case "BF16": {
      // bf16 is the top 16 bits of a float32: shift left by 16.
      const src = new Uint16Array(aligned);
      const dst = new Uint32Array(count);
      for (let i = 0; i < count; i++) dst[i] = src[i] << 16;
      return new Float32Array(dst.buffer);
    }
    case "F16": {
      return fromFloat16Array(new Uint16Array(aligned));
    }
  }
}

export interface WriteTensor {
  shape: number[];
  data: Float32Array;
  /** Stored dtype; default F32. F16/BF16 round the float32 values. */
  dtype?: "F32" | "F16" | "BF16";
}

/** Encodes tensors as one safetensors file (header padded with spaces to a multiple of 8). */
export function encodeSafetensors(tensors: Record<string, WriteTensor>, metadata: Record<string, string> = { format: "pt" }): Buffer {
  const header: Record<string, unknown> = { __metadata__: metadata };
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new Error(`tensor ${name}: shape ${JSON.stringify(t.shape)} does not match ${t.data.length} values`);
    const dtype = t.dtype ?? "F32";
    const bytes = fromFloat32(t.data, dtype);
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    chunks.push(bytes);
    offset += bytes.length;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  return Buffer.concat([len, Buffer.from(json, "utf8"), ...chunks]);
}

/** Writes tensors to a safetensors file. */
export function writeSafetensors(file: string, tensors: Record<string, WriteTensor>, metadata?: Record<string, string>): void {
  writeFileSync(file, encodeSafetensors(tensors, metadata));
}

function fromFloat32(data: Float32Array, dtype: "F32" | "F16" | "BF16"): Buffer {
  if (dtype === "F32") return Buffer.from(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
  const out = new Uint16Array(data.length);
  if (dtype === "BF16") {
    // Round to nearest even on the dropped 16 bits.
    const bits = new Uint32Array(Float32Array.from(data).buffer);
    for (let i = 0; i < data.length; i++) {
      const b = bits[i];
      out[i] = (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
    }
  } else {
    out.set(toFloat16Array(data));
  }
  return Buffer.from(out.buffer);
}
