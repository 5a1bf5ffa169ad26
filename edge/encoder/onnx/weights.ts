/**
 * The tensors of a tfjs graph model's weights manifest (universal-sentence-
 * encoder-lite's model.json + shards, as files.ts reads them), by node name:
 * float32 and int32 arrays in manifest order over the concatenated shards
 * (a tensor may straddle two shards). No quantized weights in this model.
 */
import type { EncoderFiles } from "../files.ts";

interface ManifestEntry {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: unknown;
}

export interface Weight {
  shape: number[];
  data: Float32Array | Int32Array;
}

export class TfjsWeights {
  private constructor(private readonly byName: ReadonlyMap<string, Weight>) {}

  static from(files: Pick<EncoderFiles, "model" | "shards">): TfjsWeights {
    const total = files.shards.reduce((n, s) => n + s.byteLength, 0);
    const all = new Uint8Array(total);
    let at = 0;
    for (const s of files.shards) {
      all.set(new Uint8Array(s), at);
      at += s.byteLength;
    }
    const byName = new Map<string, Weight>();
    let offset = 0;
    for (const w of files.model.weightsManifest.flatMap((g) => g.weights) as ManifestEntry[]) {
      if (w.quantization) throw new Error(`encoder weights: ${w.name} is quantized (not supported)`);
      if (w.dtype !== "float32" && w.dtype !== "int32") throw new Error(`encoder weights: ${w.name} has dtype ${w.dtype} (not supported)`);
      const n = w.shape.reduce((a, b) => a * b, 1);
      if (offset + 4 * n > total) throw new Error(`encoder weights: ${w.name} runs past the shards' end`);
      const data = w.dtype === "float32" ? new Float32Array(all.buffer, offset, n) : new Int32Array(all.buffer, offset, n);
      byName.set(w.name, { shape: w.shape, data });
      offset += 4 * n;
    }
    if (offset !== total) throw new Error(`encoder weights: manifest covers ${offset} of the shards' ${total} bytes`);
    return new TfjsWeights(byName);
  }

  private get(name: string, shape: readonly number[]): Weight {
    const w = this.byName.get(name);
    if (!w) throw new Error(`encoder weights: no tensor ${name}`);
    if (w.shape.length !== shape.length || w.shape.some((d, i) => d !== shape[i])) throw new Error(`encoder weights: ${name} has shape [${w.shape}], expected [${shape}]`);
    return w;
  }

  /** The float32 tensor `name`, checked to have `shape` (a view, not a copy). */
  f32(name: string, shape: readonly number[]): Float32Array {
    const { data } = this.get(name, shape);
    if (!(data instanceof Float32Array)) throw new Error(`encoder weights: ${name} is not float32`);
    return data;
  }

  /** The float32 scalar `name`. */
  scalar(name: string): number {
    return this.f32(name, [])[0]!;
  }

  /** The int32 tensor `name` as numbers, checked to have `shape`. */
  i32(name: string, shape: readonly number[]): number[] {
    const { data } = this.get(name, shape);
    if (!(data instanceof Int32Array)) throw new Error(`encoder weights: ${name} is not int32`);
    return Array.from(data);
  }
}
