/**
 * A decoder graph run as segments (sidecar/model/graph/segments.ts): a few
 * blocks per onnxruntime session, then the head (final norm and LM head) as
 * its own. One forward pass is the segments in turn, the residual stream
 * handed from each to the next. Two things come of it:
 *
 * - A run can pause between segments (`between`): onnxruntime-node runs a
 *   session on the event loop's thread and cannot be interrupted, so this is
 *   where the scheduler lets a short prompt that arrived meanwhile run whole,
 *   instead of waiting for the rest of a long prompt's chunk.
 * - The head can run on the last position only (`logits: "last"`), or not at
 *   all (`"none"`): a prompt chunk needs the next-token logits of its last
 *   token at most, and the LM head over every position of a 64-token chunk
 *   is a sixth of the chunk's time on random-100m.
 *
 * Results are those of the whole graph, bit for bit on CPU (segmented.test.ts).
 * Also here: where to cut (segmentCuts), how many blocks per segment "auto"
 * picks (autoSegmentLayers), and cutting and opening them (splitModel, openSegments).
 */
import * as ort from "../onnxruntime.ts";
import { linearWeightsPerLayer } from "../model/flops.ts";
import type { Manifest } from "../model/manifest.ts";
import { LOGITS, residPost } from "../model/graph/names.ts";
import { onnx } from "../model/graph/onnx-builder.ts";
import { splitGraph } from "../model/graph/segments.ts";

/** Which positions' logits a run needs: all, each row's last, or none. */
export type LogitsWanted = "all" | "last" | "none";

export interface SegmentedRunOptions {
  /** Awaited after each segment of blocks (not after the head). */
  between?: () => Promise<void>;
  logits?: LogitsWanted;
}

export class SegmentedSession {
  readonly inputNames: string[];
  /** Per segment, what it returns for later segments: its cut, and tensors segments.ts hands on (the rotary tables). */
  private readonly handsOn: string[][];
  /** True when the head reads only the residual stream, so it can run on a slice of the positions. */
  readonly headSliceable: boolean;

  constructor(
    private readonly sessions: ort.InferenceSession[],
    /** cuts[s]: the residual tensor segment s hands to segment s + 1. */
    private readonly cuts: string[],
  ) {
    if (sessions.length !== cuts.length + 1) throw new Error(`segmented session: ${sessions.length} sessions for ${cuts.length} cuts`);
    const laterInputs = (s: number) => new Set(sessions.slice(s + 1).flatMap((x) => x.inputNames));
    this.handsOn = sessions.map((x, s) => x.outputNames.filter((n) => laterInputs(s).has(n)));
    const handed = new Set(this.handsOn.flat());
    this.inputNames = [...new Set(sessions.flatMap((x) => x.inputNames.filter((n) => !handed.has(n))))];
    const head = sessions.at(-1)!;
    this.headSliceable = head.inputNames.length === 1 && head.outputNames.length === 1 && head.outputNames[0] === LOGITS;
  }

  /** Segments, the head included. */
  get length(): number {
    return this.sessions.length;
  }

  /**
   * One forward pass: `feeds` as for the whole graph; `fetches` maps each
   * wanted output to null or a tensor to write it into (the logits' then
   * shaped for what `opts.logits` asks when the head is sliced).
   */
  async run(feeds: Record<string, ort.Tensor>, fetches: Record<string, ort.Tensor | null>, opts: SegmentedRunOptions = {}): Promise<Record<string, ort.Tensor>> {
    const out: Record<string, ort.Tensor> = {};
    const last = this.sessions.length - 1;
    // What earlier segments handed on: the residual stream at each cut, and the like.
    const handed: Record<string, ort.Tensor> = {};
    for (let s = 0; s <= last; s++) {
      const session = this.sessions[s]!;
      const wanted = session.outputNames.filter((n) => n in fetches);
      if (s === last && this.headSliceable) {
        // (A head that holds a hook takes per-position steering inputs: it runs whole.)
        if (opts.logits === "none") break;
        if (opts.logits === "last") handed[this.cuts[s - 1]!] = lastPositions(handed[this.cuts[s - 1]!]!);
      }
      const segFeeds: Record<string, ort.Tensor> = {};
      for (const name of session.inputNames) segFeeds[name] = feeds[name] ?? handed[name]!;
      const segFetches: Record<string, ort.Tensor | null> = Object.fromEntries(wanted.map((n) => [n, fetches[n] ?? null]));
      for (const n of this.handsOn[s]!) segFetches[n] ??= null;
      const result = await session.run(segFeeds, segFetches);
      for (const n of wanted) out[n] = result[n]!;
      for (const n of this.handsOn[s]!) handed[n] = result[n]!;
      if (s < last && opts.between) await opts.between();
    }
    return out;
  }

  async release(): Promise<void> {
    for (const s of this.sessions) await s.release();
  }
}

/** [B, S, D] -> [B, 1, D]: each row's last position (a view when B or S is 1). */
export function lastRows(data: Float32Array, B: number, S: number, D: number): Float32Array {
  if (S === 1) return data.subarray(0, B * D);
  if (B === 1) return data.subarray((S - 1) * D, S * D);
  const out = new Float32Array(B * D);
  for (let b = 0; b < B; b++) out.set(data.subarray((b * S + S - 1) * D, (b * S + S) * D), b * D);
  return out;
}

/** The residual stream's tensor at each row's last position only. */
function lastPositions(t: ort.Tensor): ort.Tensor {
  const [B, S, D] = t.dims as [number, number, number];
  return S === 1 ? t : new ort.Tensor("float32", lastRows(t.data as Float32Array, B, S, D), [B, 1, D]);
}

/** Below this many block parameters the graph runs whole ("auto"): every run is short, and each more session costs. */
export const SEGMENTS_MIN_PARAMS = 20e6;
/** "auto" groups blocks into segments of about this many parameters. */
export const SEGMENT_TARGET_PARAMS = 12e6;

/**
 * DecoderOptions.segmentLayers "auto": on CPU, for a fused-attention graph (the CPU build) of
 * at least SEGMENTS_MIN_PARAMS in its blocks, as many blocks per segment as
 * make about SEGMENT_TARGET_PARAMS (random-100m: 2 of its 12, a 64-token
 * chunk's segment then takes 10-14 ms here; a 7B model: 1). Each segment is
 * one more onnxruntime run per step, 0.1-0.2 ms here (README, Latency). On
 * CUDA, for plain attention (measured on random-100m: batch-8 decode 0.80x
 * and 0.97x of the whole graph, newcomers still waiting 3.9x and 5.9x) and
 * for small models, 0: one session.
 */
export function autoSegmentLayers(manifest: Manifest, device: string): number {
  const per = linearWeightsPerLayer(manifest.dims);
  if (device !== "cpu" || manifest.graph?.attention !== "gqa" || per * manifest.dims.nLayers < SEGMENTS_MIN_PARAMS) return 0;
  return Math.min(manifest.dims.nLayers, Math.max(1, Math.round(SEGMENT_TARGET_PARAMS / per)));
}

/**
 * The residual tensors to cut the graph at for `layers` blocks per segment:
 * after every `layers`-th block, and after the last one (the head's own
 * segment). None when `layers` is 0.
 */
export function segmentCuts(manifest: Manifest, layers: number): string[] {
  if (!(layers > 0)) return [];
  const n = manifest.dims.nLayers;
  const cuts: string[] = [];
  for (let l = layers - 1; l < n - 1; l += layers) cuts.push(residPost(l));
  cuts.push(residPost(n - 1));
  return cuts;
}

/** A graph cut into segments, each encoded, ready to open (openSegments). */
export interface SplitModel {
  bytes: Uint8Array[];
  cuts: string[];
}

/**
 * The graph (decoded, or its bytes) cut at `cuts` (segments.ts), each segment
 * encoded; undefined when there are no cuts, or when the graph cannot be cut
 * (not our residual names; then with a warning, and it runs whole).
 */
export function splitModel(graph: Uint8Array | InstanceType<typeof onnx.ModelProto>, cuts: string[], warn: (m: string) => void): SplitModel | undefined {
  if (cuts.length === 0) return undefined;
  try {
    const split = splitGraph(graph instanceof Uint8Array ? onnx.ModelProto.decode(graph) : graph, cuts);
    return { bytes: split.models.map((m) => onnx.ModelProto.encode(m).finish()), cuts };
  } catch (err) {
    warn(`warning: the graph runs whole, not in segments: ${(err as Error).message}`);
    return undefined;
  }
}

/** One session per segment of `split` (`o` names the external-data folder: withDataDir); the ones opened are released if one fails. */
export async function openSegments(split: SplitModel, o: ort.InferenceSession.SessionOptions): Promise<SegmentedSession> {
  const sessions: ort.InferenceSession[] = [];
  try {
    for (const bytes of split.bytes) sessions.push(await ort.InferenceSession.create(bytes, o));
  } catch (err) {
    for (const session of sessions) await session.release();
    throw err;
  }
  return new SegmentedSession(sessions, split.cuts);
}
