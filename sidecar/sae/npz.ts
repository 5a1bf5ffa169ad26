/**
 * NumPy `.npz` archives: a zip (stored, as `np.savez` writes, or deflated, as
 * `np.savez_compressed` writes) of `.npy` files, one per array, named
 * `KEY.npy`. The zip container is read with fflate (its central directory, so
 * zip64 archives work); the arrays with ./npy.ts.
 *
 * The whole file is held in memory while reading (up to Node's 4 GiB
 * buffer limit); each array is decompressed and converted one at a time.
 * Entry sizes are checked against the zip directory (a truncated file is an
 * error naming the entry); CRC-32s are not checked.
 */
import { constants as bufferConstants } from "node:buffer";
import { closeSync, fstatSync, openSync, readSync, writeFileSync } from "node:fs";
import { unzipSync, zipSync, type UnzipFileInfo, type Zippable } from "fflate";
import { parseNpy, type NpyArray } from "./npy.ts";

const GiB = 2 ** 30;

/** A file's bytes, read through a descriptor (readFileSync stops at 2 GiB). */
function readBytes(file: string): Uint8Array {
  const fd = openSync(file, "r");
  try {
    const size = fstatSync(fd).size;
    if (size > bufferConstants.MAX_LENGTH) {
      throw new Error(`${file}: ${(size / GiB).toFixed(1)} GiB is more than this reader holds in memory (${bufferConstants.MAX_LENGTH / GiB} GiB)`);
    }
    let out: Uint8Array;
    try {
      out = new Uint8Array(size);
    } catch (e) {
      throw new Error(`${file}: cannot allocate ${(size / GiB).toFixed(1)} GiB to read it (${(e as Error).message})`);
    }
    for (let done = 0; done < size; ) {
      const n = readSync(fd, out, done, Math.min(size - done, GiB), done);
      if (n <= 0) throw new Error(`${file}: short read at byte ${done} of ${size}`);
      done += n;
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

function zipError(file: string, e: unknown): Error {
  return new Error(`${file}: not a readable zip archive (truncated, or not an .npz: an .npz is a zip of .npy files): ${(e as Error).message}`);
}

/** The entries of a zip held in memory (name, sizes, compression method). */
function listEntries(file: string, data: Uint8Array): UnzipFileInfo[] {
  const infos: UnzipFileInfo[] = [];
  try {
    unzipSync(data, { filter: (f) => (infos.push(f), false) });
  } catch (e) {
    throw zipError(file, e);
  }
  return infos;
}

export interface NpzContents {
  /** Arrays by key (the entry name without `.npy`). */
  arrays: Map<string, NpyArray>;
  /** Every entry name in the archive, in order. */
  entries: string[];
}

/**
 * Reads the `.npy` entries of an .npz file (only `keys`, when given) as
 * float32 arrays. Errors name the file and the entry.
 */
export function readNpz(file: string, keys?: string[]): NpzContents {
  const data = readBytes(file);
  const infos = listEntries(file, data);
  const arrays = new Map<string, NpyArray>();
  for (const info of infos) {
    if (!info.name.endsWith(".npy")) continue;
    const key = info.name.slice(0, -4);
    if (keys && !keys.includes(key)) continue;
    const what = `${file}: entry "${info.name}"`;
    if (info.compression !== 0 && info.compression !== 8) {
      throw new Error(`${what}: zip compression method ${info.compression} is not supported (numpy writes 0, stored, or 8, deflate)`);
    }
    let bytes: Uint8Array | undefined;
    try {
      bytes = unzipSync(data, { filter: (f) => f.name === info.name })[info.name];
    } catch (e) {
      throw new Error(`${what}: cannot decompress (${(e as Error).message}; a truncated or corrupt file?)`);
    }
    if (!bytes || bytes.length !== info.originalSize) {
      throw new Error(`${what}: ${bytes?.length ?? 0} bytes where the zip directory says ${info.originalSize} (a truncated file?)`);
    }
    arrays.set(key, parseNpy(bytes, what));
  }
  return { arrays, entries: infos.map((i) => i.name) };
}

/** Encodes `.npy` byte arrays as an .npz (zip): stored like np.savez, or deflated like np.savez_compressed. */
export function encodeNpz(npys: Record<string, Uint8Array>, opts: { compress?: boolean } = {}): Uint8Array {
  const level = opts.compress ? 6 : 0;
  const files: Zippable = {};
  for (const [key, bytes] of Object.entries(npys)) files[`${key}.npy`] = [bytes, { level }];
  return zipSync(files);
}

/** Writes an .npz file (see encodeNpz). */
export function writeNpz(file: string, npys: Record<string, Uint8Array>, opts: { compress?: boolean } = {}): void {
  writeFileSync(file, encodeNpz(npys, opts));
}
