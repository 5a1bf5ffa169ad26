/**
 * onnxruntime-node over a built decoder (model.onnx): one session, or one per
 * segment of a few blocks (segmented.ts); with segmented.ts the only files that
 * talk to onnxruntime. Inputs and outputs use the Optimum / transformers.js
 * names (see sidecar/model/graph/names.ts).
 */
import * as ort from "../onnxruntime.ts";
import { dirname, join } from "node:path";
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
  newKey,
  newValue,
  SEQLENS_K,
  TOTAL_SEQUENCE_LENGTH,
} from "../model/graph/names.ts";
import { layerStepInputs, type LayerStepInputs } from "../steering/inputs.ts";
import * as SN from "../steering/names.ts";
import type { RowCache } from "./kv-cache.ts";
import { appendToRow, gqaLengths, rowWithRoom } from "./gqa-kv-cache.ts";
import { fileStamp, readReferringToFile } from "../model/graph/file-refs.ts";
import { mallocTuned } from "./malloc-env.ts";
import { onnx } from "../model/graph/onnx-builder.ts";
import { autoSegmentLayers, lastRows, openSegments, segmentCuts, SegmentedSession, splitModel, type LogitsWanted } from "./segmented.ts";

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
  /**
   * Blocks per segment graph (segmented.ts): the graph is run as sessions of
   * this many blocks each, then the head, so a long prompt's chunk can let a
   * newcomer through between two segments, and a chunk's LM head runs on its
   * last position only. 0 (default): one session. "auto": autoSegmentLayers (segmented.ts).
   * Graphs without our residual-stream names run whole (with a warning).
   */
  segmentLayers?: number | "auto";
  /**
   * onnxruntime's CPU memory arena (its sessions' enableCpuMemArena).
   * Default: off for fused attention in a process that runs with the
   * sidecar's malloc settings (malloc-env.ts mallocTuned), else on. The
   * arena grows by regions it maps afresh and touches part by part, so the
   * first steps at every larger shape paid page faults even after a warm-up
   * step at the largest (Scheduler.warmUp): 14,000 in the first decode step
   * after a 2,000-token row joined random-100m's batch, 600-900 in each of
   * its prefill chunks. With the arena off, malloc's heap (kept by those
   * settings) serves them once it has grown. Plain attention keeps it: a
   * whole long prompt's attention scores (192 MB at 2,000 tokens) are
   * beyond what malloc keeps, and without the arena they were mapped afresh
   * every run (1.8 million faults, against 300,000, for one 2,000-token
   * prompt beside two streams). Without those settings glibc maps and
   * unmaps large blocks on every step, and the arena is the better choice.
   */
  cpuArena?: boolean;
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
  /** [B*(P+S)]: 1 where the key is real, 0 for left padding. Unused by fused-attention graphs. */
  attentionMask: BigInt64Array;
  /**
   * Cached keys and values per layer, each [B, nKv, P, headDim]. Fused
   * attention (manifest graph.attention "gqa"): P is the arrays' capacity,
   * each row left-aligned, and a row's length is its first new position
   * (positionIds[b * S]; gqa-kv-cache.ts).
   */
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
   * Where to write `logits` ([B, S, V], or a longer buffer whose start is
   * used), so the engine reuses one buffer rather than first-touching new
   * memory every step (buffer-pool.ts). The returned logits are then a view
   * of it, overwritten by the next step that uses it. Default: onnxruntime
   * allocates.
   */
  logitsInto?: Float32Array;
  /**
   * Steering inputs per hooked layer (sidecar/steering/names.ts). Hooked
   * layers left out get gate 0 for every row (an exact no-op).
   */
  steering?: Record<number, LayerStepInputs>;
  /** Hooked layers whose SAE activations (`steer.L.acts`, [B, S, K]) to return. */
  acts?: number[];
  /** Hooked layers whose condition values (`steer.L.cond`, [B, S]) to return. */
  cond?: number[];
  /**
   * Which logits the caller reads (default "all"): "last" gives [B, 1, V],
   * each row's last position; "none" may give none. A segmented graph then
   * runs its LM head on those positions only (logitsRows says how many it
   * writes into logitsInto).
   */
  logits?: LogitsWanted;
  /**
   * Awaited between two segments of a segmented graph (not called for a
   * single session): the scheduler runs a newcomer's prompt there. It must
   * not touch this step's buffers.
   */
  between?: () => Promise<void>;
}

export interface StepOutput {
  /** [B, S, V], or [B, 1, V] for `logits: "last"`, or possibly empty for "none". */
  logits: Float32Array;
  /**
   * Per layer, [B, nKv, P+S, headDim]. Fused attention: only this step's keys
   * and values, [B, S, nKv * headDim] (the cache appends them), except from
   * prefillChunk, which gives the row's cache (see there).
   */
  presentKeys: Float32Array[];
  presentValues: Float32Array[];
  /** Per requested layer, [B, S, K] activations of the fed features. */
  acts?: Record<number, Float32Array>;
  /** Per requested layer, [B, S] condition values (empty when every gate was 0). */
  cond?: Record<number, Float32Array>;
}

/**
 * onnxruntime tensors for one hooked layer's steering inputs (batch B, S new
 * tokens). `condition` false leaves out the condition's inputs, for a hook
 * from before conditional steering (names.ts HOOK_FORMAT).
 */
export function steeringTensors(layer: number, t: LayerStepInputs, B: number, S: number, condition = true): Record<string, ort.Tensor> {
  const cond = condition && {
    [SN.steerCondWeights(layer)]: new ort.Tensor("float32", t.condWeights, [B, t.k]),
    [SN.steerCondThreshold(layer)]: new ort.Tensor("float32", t.condThreshold, [B]),
  };
  return {
    ...cond,
    [SN.steerFeatures(layer)]: new ort.Tensor("int64", t.features, [B, t.k]),
    [SN.steerModes(layer)]: new ort.Tensor("int64", t.modes, [B, t.k]),
    [SN.steerValues(layer)]: new ort.Tensor("float32", t.values, [B, t.k]),
    [SN.steerGate(layer)]: new ort.Tensor("float32", t.gate, [B]),
    [SN.steerStrength(layer)]: new ort.Tensor("float32", t.strength, [B]),
    [SN.steerPositions(layer)]: new ort.Tensor("float32", t.positions, [B, S]),
  };
}

/** The model file was replaced while a decoder was reading weights from it. */
export class ModelChangedError extends Error {}

/** `o` with onnxruntime told where a model opened from bytes finds its external data. */
function withDataDir(o: ort.InferenceSession.SessionOptions, dir: string): ort.InferenceSession.SessionOptions {
  const extra = { ...(o.extra as Record<string, Record<string, unknown>> | undefined) };
  extra.session = { ...extra.session, model_external_initializers_file_folder_path: dir };
  return { ...o, extra };
}

/** Whether a model's graph runs fused attention (GroupQueryAttention; gqa-kv-cache.ts's cache layout). */
const isFused = (manifest: Manifest): boolean => manifest.graph.attention === "gqa";

/** What a prefill chunk may add to its ids and past (presentInto: plain attention only; fused rows grow in place). */
export type ChunkExtras = Pick<StepInput, "steering" | "acts" | "cond" | "presentInto" | "logitsInto" | "logits" | "between">;

export class OnnxDecoder {
  /** Hooked layers with an SAE: their steering inputs are fed at every step. */
  readonly steerLayers: number[];
  /** The steerLayers whose hook takes a condition (all of them unless the graph's hook predates conditions). */
  readonly condLayers: ReadonlySet<number>;
  /** Fused attention (manifest graph.attention "gqa"): lengths instead of a mask, new keys/values instead of present. */
  readonly fused: boolean;
  private readonly fetches: string[];
  /** Per layer, the graph's key and value outputs. */
  private readonly kvOutputs: [string, string][];

  private constructor(
    private readonly session: ort.InferenceSession | SegmentedSession,
    readonly manifest: Manifest,
    /** The execution provider actually in use. */
    readonly device: Device,
  ) {
    const inputs = new Set(session.inputNames);
    this.steerLayers = manifest.hookedLayers.filter((l) => inputs.has(SN.steerFeatures(l)));
    this.condLayers = new Set(this.steerLayers.filter((l) => inputs.has(SN.steerCondWeights(l))));
    const { nLayers } = manifest.dims;
    this.fused = isFused(manifest);
    this.kvOutputs = Array.from({ length: nLayers }, (_, l) => (this.fused ? [newKey(l), newValue(l)] : [presentKey(l), presentValue(l)]));
    this.fetches = [LOGITS, ...this.kvOutputs.flat()];
  }

  /**
   * Opens `modelDir`'s graph, or `model` instead when given (a file, or the
   * bytes of a graph with SAEs attached at load; then `manifest` describes it,
   * and the bytes refer to the built file's folder for their weights).
   */
  static async load(modelDir: string, manifest: Manifest, opts: DecoderOptions = {}, model?: string | Uint8Array): Promise<OnnxDecoder> {
    const warn = opts.warn ?? ((m: string) => process.stderr.write(`${m}\n`));
    const base: ort.InferenceSession.SessionOptions = { graphOptimizationLevel: "all", enableCpuMemArena: opts.cpuArena ?? !(isFused(manifest) && mallocTuned(process.env)) };
    // onnxruntime-node rejects an explicit undefined: set only what was given.
    if (opts.intraOpThreads) base.intraOpNumThreads = opts.intraOpThreads;
    if (opts.interOpThreads) base.interOpNumThreads = opts.interOpThreads;
    if (!opts.intraOpSpinning) base.extra = { session: { intra_op: { allow_spinning: "0" } } };
    const file = model ?? join(modelDir, manifest.graph.file);
    // The file the weights are read from, by onnxruntime too: it must not change meanwhile.
    const built = typeof file === "string" ? file : join(modelDir, manifest.graph.file);
    const stamp = fileStamp(built);
    const layers = opts.segmentLayers === "auto" ? autoSegmentLayers(manifest, opts.device ?? "cpu") : (opts.segmentLayers ?? 0);
    // Opened from a graph whose weights stay in the file (file-refs.ts), so the external-data folder is named.
    // (bytes: a graph with SAEs attached, referring to the built file's folder: steering/registry.ts)
    const graph = typeof file === "string" ? readReferringToFile(file) : file;
    const dataDir = dirname(built);
    // Cut once, whichever execution provider opens it (segmented.ts).
    const split = splitModel(graph, segmentCuts(manifest, layers), warn);
    const whole = split ? undefined : graph instanceof Uint8Array ? graph : onnx.ModelProto.encode(graph).finish();
    const create = async (o: ort.InferenceSession.SessionOptions): Promise<ort.InferenceSession | SegmentedSession> => {
      const session = await (split ? openSegments(split, withDataDir(o, dataDir)) : ort.InferenceSession.create(whole!, withDataDir(o, dataDir)));
      if (fileStamp(built) === stamp) return session;
      await session.release();
      throw new ModelChangedError(`${built} changed while it was being loaded (its weights are read from it); load it again`);
    };
    if (opts.device === "cuda") {
      try {
        const session = await create({ ...base, executionProviders: ["cuda"] });
        return new OnnxDecoder(session, manifest, "cuda");
      } catch (err) {
        if (err instanceof ModelChangedError) throw err;
        warn(`warning: CUDA execution provider unavailable (${(err as Error).message.split("\n")[0]}); falling back to CPU`);
      }
    }
    const session = await create({ ...base, executionProviders: ["cpu"] });
    return new OnnxDecoder(session, manifest, "cpu");
  }

  /** Segment graphs run per step, the head included (1: the graph runs whole). */
  get segments(): number {
    return this.session instanceof SegmentedSession ? this.session.length : 1;
  }

  /** Positions of logits a step of `batch` rows and `seq` new tokens each writes, for `wanted` (StepInput.logits). */
  logitsRows(batch: number, seq: number, wanted: LogitsWanted = "all"): number {
    if (wanted === "all" || !(this.session instanceof SegmentedSession) || !this.session.headSliceable) return batch * seq;
    return wanted === "none" ? 0 : batch;
  }

  async step(input: StepInput): Promise<StepOutput> {
    const { nLayers, nKvHeads, headDim } = this.manifest.dims;
    const { batch: B, seq: S, pastLength: P } = input;
    const feeds: Record<string, ort.Tensor> = {
      [INPUT_IDS]: new ort.Tensor("int64", input.inputIds, [B, S]),
      [POSITION_IDS]: new ort.Tensor("int64", input.positionIds, [B, S]),
      ...(this.fused ? lengthFeeds(input) : { [ATTENTION_MASK]: new ort.Tensor("int64", input.attentionMask, [B, P + S]) }),
    };
    const pastDims = [B, nKvHeads, P, headDim];
    for (let l = 0; l < nLayers; l++) {
      feeds[pastKey(l)] = new ort.Tensor("float32", input.pastKeys[l]!, pastDims);
      feeds[pastValue(l)] = new ort.Tensor("float32", input.pastValues[l]!, pastDims);
    }
    for (const l of this.steerLayers) {
      const t = input.steering?.[l] ?? layerStepInputs(Array.from({ length: B }, () => null), S, new Array<number>(B).fill(0));
      Object.assign(feeds, steeringTensors(l, t, B, S, this.condLayers.has(l)));
    }
    const acts = (input.acts ?? []).filter((l) => this.steerLayers.includes(l));
    const cond = input.cond ?? [];
    for (const l of cond) if (!this.condLayers.has(l)) throw new Error(`the hook at layer ${l} takes no condition (it predates conditional steering): attach its SAE again`);
    const extra = [...acts.map(SN.steerActs), ...cond.map(SN.steerCond)];
    const names = extra.length ? [...this.fetches, ...extra] : this.fetches;
    const into = input.presentInto;
    const V = this.manifest.dims.vocabSize;
    const wanted = input.logits ?? "all";
    const rows = this.logitsRows(B, S, wanted);
    const logitsInto = rows > 0 ? input.logitsInto?.subarray(0, rows * V) : undefined;
    let fetches: string[] | Record<string, ort.Tensor | null> = names;
    if (into || logitsInto) {
      // Preallocated outputs: onnxruntime writes the cache and logits into our buffers.
      const presentDims = [B, nKvHeads, P + S, headDim];
      const map: Record<string, ort.Tensor | null> = Object.fromEntries(names.map((n) => [n, null]));
      for (let l = 0; into && l < nLayers; l++) {
        map[presentKey(l)] = new ort.Tensor("float32", into.keys[l]!, presentDims);
        map[presentValue(l)] = new ort.Tensor("float32", into.values[l]!, presentDims);
      }
      if (logitsInto) map[LOGITS] = new ort.Tensor("float32", logitsInto, [B, rows / B, V]);
      fetches = map;
    }
    const out =
      this.session instanceof SegmentedSession
        ? await this.session.run(feeds, Array.isArray(fetches) ? Object.fromEntries(fetches.map((n) => [n, null])) : fetches, { logits: wanted, between: input.between })
        : await this.session.run(feeds, fetches);
    const presentKeys: Float32Array[] = [];
    const presentValues: Float32Array[] = [];
    for (let l = 0; l < nLayers; l++) {
      presentKeys.push(into ? into.keys[l]! : (out[this.kvOutputs[l]![0]]!.data as Float32Array));
      presentValues.push(into ? into.values[l]! : (out[this.kvOutputs[l]![1]]!.data as Float32Array));
    }
    const logits = rows === 0 ? new Float32Array(0) : (logitsInto ?? (out[LOGITS]!.data as Float32Array));
    const result: StepOutput = { logits: wanted === "last" && rows === B * S ? lastRows(logits, B, S, V) : logits, presentKeys, presentValues };
    if (acts.length) result.acts = Object.fromEntries(acts.map((l) => [l, out[SN.steerActs(l)]!.data as Float32Array]));
    if (cond.length) result.cond = Object.fromEntries(cond.map((l) => [l, out[SN.steerCond(l)]!.data as Float32Array]));
    return result;
  }

  /** One prompt from an empty cache (batch 1): the prefill step. */
  prefill(ids: readonly number[], extra: Pick<StepInput, "steering" | "acts" | "cond"> = {}): Promise<StepOutput> {
    return this.prefillChunk(ids, undefined, extra);
  }

  /**
   * One chunk of a prompt (batch 1): `ids` at positions past.length,
   * past.length + 1, ..., attending to the row's cache so far (`past`, per
   * layer [nKv, length, headDim]; none: the prompt's first chunk). `present`
   * is the row's cache through this chunk, in the same layout (fused
   * attention: [nKv, capacity, headDim], written in place when it has room;
   * plain: into `extra.presentInto` when given, row-buffers.ts).
   */
  prefillChunk(ids: readonly number[], past: RowCache | undefined, extra: ChunkExtras = {}): Promise<StepOutput> {
    if (this.fused) return this.prefillRow(ids, past, extra);
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

  /** prefillChunk for fused attention: the row's cache grows in place, by the chunk's new keys and values. */
  private async prefillRow(ids: readonly number[], past: RowCache | undefined, { presentInto: _, ...extra }: ChunkExtras): Promise<StepOutput> {
    const { nLayers, nKvHeads: H, headDim: D } = this.manifest.dims;
    const n = ids.length;
    const row = rowWithRoom(past, (past?.length ?? 0) + n, nLayers, H, D);
    const out = await this.step({
      batch: 1,
      seq: n,
      inputIds: BigInt64Array.from(ids, BigInt),
      positionIds: BigInt64Array.from(ids, (_, i) => BigInt(row.length + i)),
      attentionMask: new BigInt64Array(0),
      pastKeys: row.keys,
      pastValues: row.values,
      pastLength: row.keys[0]!.length / (H * D),
      ...extra,
    });
    appendToRow(row, out.presentKeys, out.presentValues, n, H, D);
    return { ...out, presentKeys: row.keys, presentValues: row.values };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** A fused-attention step's seqlens_k and total_sequence_length: each row's length is its first new position. */
function lengthFeeds(input: StepInput): Record<string, ort.Tensor> {
  const { batch: B, seq: S } = input;
  const { seqlensK, total } = gqaLengths(Array.from({ length: B }, (_, b) => Number(input.positionIds[b * S])), S);
  return { [SEQLENS_K]: new ort.Tensor("int32", seqlensK, [B]), [TOTAL_SEQUENCE_LENGTH]: new ort.Tensor("int32", Int32Array.from([total]), []) };
}
