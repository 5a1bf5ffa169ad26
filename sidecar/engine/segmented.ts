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
 */
import * as ort from "../onnxruntime.ts";
import { LOGITS } from "../model/graph/names.ts";

/** Which positions' logits a run needs: all, each row's last, or none. */
export type LogitsWanted = "all" | "last" | "none";

export interface SegmentedRunOptions {
  /** Awaited after each segment of blocks (not after the head). */
  between?: () => Promise<void>;
  logits?: LogitsWanted;
}

export class SegmentedSession {
  readonly inputNames: string[];
  /** True when the head reads only the residual stream, so it can run on a slice of the positions. */
  readonly headSliceable: boolean;

  constructor(
    private readonly sessions: ort.InferenceSession[],
    /** cuts[s]: the residual tensor segment s hands to segment s + 1. */
    private readonly cuts: string[],
    /** Bytes of weights more than one segment holds (tied embeddings; segments.ts). */
    readonly sharedBytes = 0,
  ) {
    if (sessions.length !== cuts.length + 1) throw new Error(`segmented session: ${sessions.length} sessions for ${cuts.length} cuts`);
    this.inputNames = [...new Set(sessions.flatMap((s, i) => s.inputNames.filter((n) => n !== cuts[i - 1])))];
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
    let hidden: ort.Tensor | undefined;
    for (let s = 0; s <= last; s++) {
      const session = this.sessions[s]!;
      const wanted = session.outputNames.filter((n) => n in fetches);
      if (s === last) {
        if (!this.headSliceable) {
          // The head holds a hook (its steering inputs are per position): it runs whole.
        } else if (opts.logits === "none") {
          break;
        } else if (opts.logits === "last") {
          hidden = lastPositions(hidden!);
        }
      }
      const segFeeds: Record<string, ort.Tensor> = {};
      for (const name of session.inputNames) segFeeds[name] = name === this.cuts[s - 1] ? hidden! : feeds[name]!;
      const segFetches: Record<string, ort.Tensor | null> = Object.fromEntries(wanted.map((n) => [n, fetches[n] ?? null]));
      if (s < last) segFetches[this.cuts[s]!] = null;
      const result = await session.run(segFeeds, segFetches);
      for (const n of wanted) out[n] = result[n]!;
      if (s < last) {
        hidden = result[this.cuts[s]!]!;
        if (opts.between) await opts.between();
      }
    }
    return out;
  }

  async release(): Promise<void> {
    for (const s of this.sessions) await s.release();
  }
}

/** [B, S, D] -> [B, 1, D]: each row's last position. */
function lastPositions(t: ort.Tensor): ort.Tensor {
  const [B, S, D] = t.dims as [number, number, number];
  if (S === 1) return t;
  const data = t.data as Float32Array;
  const out = new Float32Array(B * D);
  for (let b = 0; b < B; b++) out.set(data.subarray((b * S + S - 1) * D, (b * S + S) * D), b * D);
  return new ort.Tensor("float32", out, [B, 1, D]);
}
