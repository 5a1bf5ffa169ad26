/**
 * llama2.c's BPE merge loop (run.c encode(): repeatedly merge the adjacent
 * pair whose concatenation is the highest-scoring piece, the leftmost on
 * ties, until no pair is a piece) in O(n log n) instead of run.c's O(n^2):
 * the tokens are a linked list and the candidate pairs a heap ordered by
 * (score desc, left position asc). Positions never reorder, so "leftmost"
 * among the current pairs is the smallest original left index. A heap entry
 * whose pair has since changed is skipped when popped.
 *
 * A 300 KB prompt is ~300k tokens: run.c's loop spends minutes on it, this one
 * well under a second (sidecar/tokenizer/llama2c.test.ts times neither, it
 * checks the result against the quadratic loop).
 */

/** run.c's best_score start: pairs scoring at or below it never merge. */
const FLOOR = -1e10;

interface Candidate {
  score: number;
  left: number;
  right: number;
  id: number;
}

/** `pairId(a, b)`: the piece id of token a's piece + token b's piece, or -1. */
export function mergeByScore(tokens: readonly number[], pairId: (a: number, b: number) => number, score: (id: number) => number): number[] {
  const n = tokens.length;
  const tok = Int32Array.from(tokens);
  const next = Int32Array.from({ length: n }, (_, i) => (i + 1 < n ? i + 1 : -1));
  const prev = Int32Array.from({ length: n }, (_, i) => i - 1);
  const heap = new CandidateHeap();
  const consider = (left: number, right: number) => {
    if (left < 0 || right < 0) return;
    const id = pairId(tok[left]!, tok[right]!);
    if (id !== -1 && score(id) > FLOOR) heap.push({ score: score(id), left, right, id });
  };
  for (let i = 0; i + 1 < n; i++) consider(i, i + 1);
  for (let c = heap.pop(); c; c = heap.pop()) {
    // stale: the right token was merged away, or either side changed since
    if (next[c.left] !== c.right || pairId(tok[c.left]!, tok[c.right]!) !== c.id) continue;
    tok[c.left] = c.id;
    const after = next[c.right]!;
    next[c.left] = after;
    if (after >= 0) prev[after] = c.left;
    next[c.right] = -2; // removed
    consider(prev[c.left]!, c.left);
    consider(c.left, after);
  }
  const out: number[] = [];
  for (let i = n > 0 ? 0 : -1; i >= 0; i = next[i]!) out.push(tok[i]!);
  return out;
}

/** A binary max-heap on (score, then smaller left position). */
class CandidateHeap {
  private readonly items: Candidate[] = [];

  push(c: Candidate): void {
    const a = this.items;
    a.push(c);
    for (let i = a.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (!before(a[i]!, a[parent]!)) break;
      swap(a, i, parent);
      i = parent;
    }
  }

  pop(): Candidate | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      a[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < a.length && before(a[l]!, a[best]!)) best = l;
        if (r < a.length && before(a[r]!, a[best]!)) best = r;
        if (best === i) break;
        swap(a, i, best);
        i = best;
      }
    }
    return top;
  }
}

function swap(a: Candidate[], i: number, j: number): void {
  const t = a[i]!;
  a[i] = a[j]!;
  a[j] = t;
}

function before(x: Candidate, y: Candidate): boolean {
  return x.score > y.score || (x.score === y.score && x.left < y.left);
}
