/**
 * One onnxruntime-node session over a built decoder (model.onnx): the only
 * file that talks to onnxruntime. Inputs and outputs use the Optimum /
 * transformers.js names (see sidecar/model/graph/names.ts).
 */
import * as ort from "../onnxruntime.ts";
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
import { layerStepInputs, type LayerStepInputs } from "../steering/inputs.ts";
import * as SN from "../steering/names.ts";
import type { RowCache } from "./kv-cache.ts";

export type Device = "cpu" | "cuda";

export interface DecoderOptions {
  /** Execution provider; "cuda" falls back to CPU with a warning when unavailable. */
  device?: Device;
  /** Threads inside one operator (0 = onnxruntime's default). */
  intraOpThreads?: number;
  /** Threads across operators (0 = onnxruntime's default). */
  interOpThreads?: number;
  /**
   * Let idle intra-op threads spin-wait for the next operator (onnxruntime's
   * own default). Default false: the engine runs one graph per step with
   * event-loop work in between, and spinning threads then take CPU from the
   * event loop and, on a shared or small machine, from the threads doing the
   * work (`npm run bench:engine` prints both settings side by side).
   */
  intraOpSpinning?: boolean;
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
  /**
   * Where to write `present.N.*` ([B, nKv, P+S, headDim] each), so a decode
   * loop can reuse two buffers instead of allocating the whole cache anew
   * every step (see kv-cache.ts). Default: onnxruntime allocates.
   */
  presentInto?: { keys: Float32Array[]; values: Float32Array[] };
  /**
   * Steering inputs per hooked layer (sidecar/steering/names.ts). Hooked
   * layers left out get gate 0 for every row (an exact no-op).
   */
  steering?: Record<number, LayerStepInputs>;
  /** Hooked layers whose SAE activations (`steer.L.acts`, [B, S, K]) to return. */
  acts?: number[];
}

export interface StepOutput {
  /** [B, S, V] */
  logits: Float32Array;
  /** Per layer, [B, nKv, P+S, headDim]. */
  presentKeys: Float32Array[];
  presentValues: Float32Array[];
  /** Per requested layer, [B, S, K] activations of the fed features. */
  acts?: Record<number, Float32Array>;
}

/** onnxruntime tensors for one hooked layer's steering inputs (batch B, S new tokens). */
export function steeringTensors(layer: number, t: LayerStepInputs, B: number, S: number): Record<string, ort.Tensor> {
  return {
    [SN.steerFeatures(layer)]: new ort.Tensor("int64", t.features, [B, t.k]),
    [SN.steerModes(layer)]: new ort.Tensor("int64", t.modes, [B, t.k]),
    [SN.steerValues(layer)]: new ort.Tensor("float32", t.values, [B, t.k]),
    [SN.steerGate(layer)]: new ort.Tensor("float32", t.gate, [B]),
    [SN.steerStrength(layer)]: new ort.Tensor("float32", t.strength, [B]),
    [SN.steerPositions(layer)]: new ort.Tensor("float32", t.positions, [B, S]),
  };
}

export class OnnxDecoder {
  /** Hooked layers with an SAE: their steering inputs are fed at every step. */
  readonly steerLayers: number[];
  private readonly fetches: string[];

  private constructor(
    private readonly session: ort.InferenceSession,
    readonly manifest: Manifest,
    /** The execution provider actually in use. */
    readonly device: Device,
  ) {
    const inputs = new Set(session.inputNames);
    this.steerLayers = manifest.hookedLayers.filter((l) => inputs.has(SN.steerFeatures(l)));
    const { nLayers } = manifest.dims;
    this.fetches = [LOGITS];
    for (let l = 0; l < nLayers; l++) this.fetches.push(presentKey(l), presentValue(l));
  }

  /**
   * Opens `modelDir`'s graph, or `model` instead when given (a file, or the
   * bytes of a graph with SAEs attached at load; then `manifest` describes it).
   */
  static async load(modelDir: string, manifest: Manifest, opts: DecoderOptions = {}, model?: string | Uint8Array): Promise<OnnxDecoder> {
    const warn = opts.warn ?? ((m: string) => process.stderr.write(`${m}\n`));
    const base: ort.InferenceSession.SessionOptions = { graphOptimizationLevel: "all" };
    // onnxruntime-node rejects an explicit undefined: set only what was given.
    if (opts.intraOpThreads) base.intraOpNumThreads = opts.intraOpThreads;
    if (opts.interOpThreads) base.interOpNumThreads = opts.interOpThreads;
    if (!opts.intraOpSpinning) base.extra = { session: { intra_op: { allow_spinning: "0" } } };
    const file = model ?? join(modelDir, manifest.graph.file);
    const create = (o: ort.InferenceSession.SessionOptions) =>
      typeof file === "string" ? ort.InferenceSession.create(file, o) : ort.InferenceSession.create(file, o);
    if (opts.device === "cuda") {
      try {
        const session = await create({ ...base, executionProviders: ["cuda"] });
        return new OnnxDecoder(session, manifest, "cuda");
      } catch (err) {
        warn(`warning: CUDA execution provider unavailable (${(err as Error).message.split("\n")[0]}); falling back to CPU`);
      }
    }
    const session = await create({ ...base, executionProviders: ["cpu"] });
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
    for (const l of this.steerLayers) {
      const t = input.steering?.[l] ?? layerStepInputs(Array.from({ length: B }, () => null), S, new Array<number>(B).fill(0));
      Object.assign(feeds, steeringTensors(l, t, B, S));
    }
    const acts = (input.acts ?? []).filter((l) => this.steerLayers.includes(l));
    const names = acts.length ? [...this.fetches, ...acts.map(SN.steerActs)] : this.fetches;
    const into = input.presentInto;
    let fetches: string[] | Record<string, ort.Tensor | null> = names;
    if (into) {
      // Preallocated outputs: onnxruntime writes the cache into our buffers.
      const presentDims = [B, nKvHeads, P + S, headDim];
      const map: Record<string, ort.Tensor | null> = Object.fromEntries(names.map((n) => [n, null]));
      for (let l = 0; l < nLayers; l++) {
        map[presentKey(l)] = new ort.Tensor("float32", into.keys[l]!, presentDims);
        map[presentValue(l)] = new ort.Tensor("float32", into.values[l]!, presentDims);
      }
      fetches = map;
    }
    const out = await this.session.run(feeds, fetches);
    const presentKeys: Float32Array[] = [];
    const presentValues: Float32Array[] = [];
    for (let l = 0; l < nLayers; l++) {
      presentKeys.push(into ? into.keys[l]! : (out[presentKey(l)]!.data as Float32Array));
      presentValues.push(into ? into.values[l]! : (out[presentValue(l)]!.data as Float32Array));
    }
    const result: StepOutput = { logits: out[LOGITS]!.data as Float32Array, presentKeys, presentValues };
    if (acts.length) result.acts = Object.fromEntries(acts.map((l) => [l, out[SN.steerActs(l)]!.data as Float32Array]));
    return result;
  }

  /** One prompt from an empty cache (batch 1): the prefill step. */
  prefill(ids: readonly number[], extra: Pick<StepInput, "steering" | "acts"> = {}): Promise<StepOutput> {
    return this.prefillChunk(ids, undefined, extra);
  }

  /**
   * One chunk of a prompt (batch 1): `ids` at positions past.length,
   * past.length + 1, ..., attending to the row's cache so far (`past`, per
   * layer [nKv, length, headDim]; none: the prompt's first chunk). `present`
   * is the row's cache through this chunk, in the same layout.
   */
  prefillChunk(ids: readonly number[], past: RowCache | undefined, extra: Pick<StepInput, "steering" | "acts"> = {}): Promise<StepOutput> {
    const n = ids.length;
    const P = past?.length ?? 0;
    const empty = Array.from({ length: this.manifest.dims.nLayers }, () => new Float32Array(0));
    return this.step({
      batch: 1,
      seq: n,
      inputIds: BigInt64Array.from(ids, BigInt),
      positionIds: BigInt64Array.from(ids, (_, i) => BigInt(P + i)),
      attentionMask: new BigInt64Array(P + n).fill(1n),
      pastKeys: past?.keys ?? empty,
      pastValues: past?.values ?? empty,
      pastLength: P,
      ...extra,
    });
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
