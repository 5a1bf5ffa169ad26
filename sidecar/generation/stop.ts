/**
 * Stop strings over a stream of text deltas.
 *
 * `push(delta)` returns the text that is safe to show now. Text that could be
 * the beginning of a stop string is held back until later deltas settle it:
 * if the stop string completes, generation stops and neither the stop string
 * nor anything after it is ever emitted; if the text diverges, the held text
 * is emitted then. `flush()` returns whatever is still held when the stream
 * ends for another reason (max tokens, end of sequence).
 *
 * When several stop strings occur, the one that starts earliest wins, so the
 * emitted text never contains any stop string. The cut points are always at
 * the start of a stop string, so with well-formed stop strings a surrogate
 * pair is never split.
 */

export interface StopPushResult {
  /** Text that can be shown now (possibly empty). */
  emit: string;
  /** True once a stop string has been seen; the stream should end. */
  stopped: boolean;
}

export class StopStringMatcher {
  private readonly stops: readonly string[];
  private held = "";
  private matchedStop: string | undefined;

  constructor(stops: Iterable<string> = []) {
    this.stops = [...new Set(stops)];
    for (const stop of this.stops) {
      if (typeof stop !== "string" || stop.length === 0) {
        throw new RangeError("stop strings must be non-empty strings");
      }
    }
  }

  /** True once a stop string has matched. */
  get stopped(): boolean {
    return this.matchedStop !== undefined;
  }

  /** The stop string that ended the stream, if any. */
  get matched(): string | undefined {
    return this.matchedStop;
  }

  push(delta: string): StopPushResult {
    if (this.stopped) return { emit: "", stopped: true };
    const text = this.held + delta;
    this.held = "";

    const hit = this.firstOccurrence(text);
    if (hit) {
      this.matchedStop = hit.stop;
      return { emit: text.slice(0, hit.index), stopped: true };
    }
    const hold = this.partialSuffixLength(text);
    this.held = text.slice(text.length - hold);
    return { emit: text.slice(0, text.length - hold), stopped: false };
  }

  /** Returns and clears the held text (empty after a stop). */
  flush(): string {
    const rest = this.held;
    this.held = "";
    return rest;
  }

  /** The earliest complete stop string in `text` (first listed wins a tie). */
  private firstOccurrence(text: string): { index: number; stop: string } | undefined {
    let best: { index: number; stop: string } | undefined;
    for (const stop of this.stops) {
      const index = text.indexOf(stop);
      if (index !== -1 && (best === undefined || index < best.index)) best = { index, stop };
    }
    return best;
  }

  /** Length of the longest suffix of `text` that is a proper prefix of a stop string. */
  private partialSuffixLength(text: string): number {
    let longest = 0;
    for (const stop of this.stops) {
      for (let length = Math.min(stop.length - 1, text.length); length > longest; length--) {
        if (text.endsWith(stop.slice(0, length))) {
          longest = length;
          break;
        }
      }
    }
    return longest;
  }
}
