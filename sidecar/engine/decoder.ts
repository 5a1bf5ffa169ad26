/**
 * One onnxruntime-node session over a built decoder (model.onnx): the only
 * file that talks to onnxruntime. Inputs and outputs use the Optimum /
 * transformers.js names (see sidecar/model/graph/names.ts).
 */
import * as ort from "onnxruntime-node";
import { join } from "node:path";
import type { Manifest } from "../model/manifest.ts";
import {
  ATTENTION_MASK,
  INPUT_IDS,
  LOGITS,
  POSITION_IDS,
  pastKey,
  pastValue,
  presentKey,
  presentValue,
} from "../model/graph/names.ts";

export type Device = "cpu" | "cuda";

export interface DecoderOptions {
  /** Execution provider; "cuda" falls back to CPU with a warning when unavailable. */
  device?: Device;
  /** Threads inside one operator (0 = onnxruntime's default). */
  intraOpThreads?: number;
  /** Threads across operators (0 = onnxruntime's default). */
  interOpThreads?: number;
  /** Called with a warning (e.g. the CUDA fallback). Default: stderr. */
  warn?: (message: string) => void;
}

/** One forward step for a batch of B rows and S new tokens each. */
export interface StepInput {
  batch: number;
  /** New tokens per row. */
  seq: number;
  /** [B*S] token ids. */
  inputIds: BigInt64Array;
  /** [B*S] rotary positions. */
  positionIds: BigInt64Array;
  /** [B*(P+S)]: 1 where the key is real, 0 for left padding. */
  attentionMask: BigInt64Array;
  /** Cached keys and values per layer, each [B, nKv, P, headDim]. */
  pastKeys: Float32Array[];
  pastValues: Float32Array[];
  pastLength: number;
}

export interface StepOutput {
  /** [B, S, V] */
  logits: Float32Array;
  /** Per layer, [B, nKv, P+S, headDim]. */
  presentKeys: Float32Array[];
  presentValues: Float32Array[];
}

export class OnnxDecoder {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly manifest: Manifest,
    /** The execution provider actually in use. */
    readonly device: Device,
  ) {}

  static async load(modelDir: string, manifest: Manifest, opts: DecoderOptions = {}): Promise<OnnxDecoder> {
    const warn = opts.warn ?? ((m: string) => process.stderr.write(`${m}\n`));
    const base: ort.InferenceSession.SessionOptions = { graphOptimizationLevel: "all" };
    // onnxruntime-node rejects an explicit undefined: set only what was given.
    if (opts.intraOpThreads) base.intraOpNumThreads = opts.intraOpThreads;
    if (opts.interOpThreads) base.interOpNumThreads = opts.interOpThreads;
    const file = join(modelDir, manifest.graph.file);
    if (opts.device === "cuda") {
      try {
        const session = await ort.InferenceSession.create(file, { ...base, executionProviders: ["cuda"] });
        return new OnnxDecoder(session, manifest, "cuda");
      } catch (err) {
        warn(`warning: CUDA execution provider unavailable (${(err as Error).message.split("\n")[0]}); falling back to CPU`);
      }
    }
    const session = await ort.InferenceSession.create(file, { ...base, executionProviders: ["cpu"] });
    return new OnnxDecoder(session, manifest, "cpu");
  }

  async step(input: StepInput): Promise<StepOutput> {
    const { nLayers, nKvHeads, headDim } = this.manifest.dims;
    const { batch: B, seq: S, pastLength: P } = input;
    const feeds: Record<string, ort.Tensor> = {
      [INPUT_IDS]: new ort.Tensor("int64", input.inputIds, [B, S]),
      [POSITION_IDS]: new ort.Tensor("int64", input.positionIds, [B, S]),
      [ATTENTION_MASK]: new ort.Tensor("int64", input.attentionMask, [B, P + S]),
    };
    const pastDims = [B, nKvHeads, P, headDim];
    for (let l = 0; l < nLayers; l++) {
      feeds[pastKey(l)] = new ort.Tensor("float32", input.pastKeys[l]!, pastDims);
      feeds[pastValue(l)] = new ort.Tensor("float32", input.pastValues[l]!, pastDims);
    }
    const out = await this.session.run(feeds);
    const presentKeys: Float32Array[] = [];
    const presentValues: Float32Array[] = [];
    for (let l = 0; l < nLayers; l++) {
      presentKeys.push(out[presentKey(l)]!.data as Float32Array);
      presentValues.push(out[presentValue(l)]!.data as Float32Array);
    }
    return { logits: out[LOGITS]!.data as Float32Array, presentKeys, presentValues };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
