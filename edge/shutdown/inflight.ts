/**
 * The chat requests past routing that have not been recorded yet, each with
 * what to do when the edge gives up on it: a forced shutdown records them all
 * (their decision events) before the process exits.
 */
export type Abandon = (reason: string) => void;

export class InflightRequests {
  private readonly live = new Set<Abandon>();

  get size(): number {
    return this.live.size;
  }

  /** Registers a request; call the returned function once it is recorded. */
  add(abandon: Abandon): () => void {
    this.live.add(abandon);
    return () => void this.live.delete(abandon);
  }

  /** Gives up on every request still in flight; returns how many there were. */
  abandonAll(reason: string): number {
    const all = [...this.live];
    this.live.clear();
    for (const abandon of all) {
      try {
        abandon(reason);
      } catch (err) {
        console.error("edge: abandoning a request failed:", err);
      }
    }
    return all.length;
  }
}
