/**
 * The SentencePiece (unigram) tokenizer of universal-sentence-encoder-lite,
 * over the package's vocab.json ([piece, log-probability] rows; rows 0-5 are
 * reserved: 0 is the unknown piece).
 *
 * Same output as the tokenizer TensorFlow.js ships with the model
 * (tfjs-models/universal-sentence-encoder, tokenizer/index.ts, Apache-2.0),
 * which no installable package exports for tfjs 4: NFKC, a "▁" before the text
 * and for every space, then the Viterbi path of the highest total
 * log-probability over the vocabulary's pieces (ties go to the later start,
 * as there), a character no piece covers becomes id 0, and runs of id 0
 * merge into one. That implementation walks a trie from every position over a
 * copy of the rest of the text (quadratic in its length); this one walks the
 * trie in place, so it is linear (times the longest piece, 16 characters).
 */

const SEPARATOR = "\u2581";
const RESERVED = 6;
const UNKNOWN_ID = 0;

interface TrieNode {
  next: Map<number, TrieNode>;
  /** vocabulary id of the piece ending here, -1 if none */
  id: number;
  score: number;
}

const node = (): TrieNode => ({ next: new Map(), id: -1, score: 0 });

export type Vocabulary = ReadonlyArray<readonly [string, number | null]>;

export class SentencePieceTokenizer {
  private readonly root = node();
  readonly size: number;

  constructor(vocabulary: Vocabulary) {
    if (!Array.isArray(vocabulary) || vocabulary.length <= RESERVED) throw new Error("tokenizer: vocabulary must be an array of [piece, score] rows");
    this.size = vocabulary.length;
    for (let id = RESERVED; id < vocabulary.length; id++) {
      const [piece, raw] = vocabulary[id]!;
      // Seven rows (":", "://", "▁:)", ...) have a null score; the reference adds it as 0.
      const score = raw ?? 0;
      if (typeof piece !== "string" || typeof score !== "number") throw new Error(`tokenizer: vocabulary row ${id} is not [piece, score]`);
      let n = this.root;
      for (const ch of piece) {
        const cp = ch.codePointAt(0)!;
        let child = n.next.get(cp);
        if (!child) n.next.set(cp, (child = node()));
        n = child;
      }
      n.id = id;
      n.score = score;
    }
  }

  /** Token ids of `text`. */
  encode(text: string): number[] {
    const normalized = text.normalize("NFKC");
    if (normalized.length === 0) return [];
    const input = SEPARATOR + normalized.replace(/ /g, SEPARATOR);
    const cps: number[] = [];
    for (const ch of input) cps.push(ch.codePointAt(0)!);
    const n = cps.length;
    // best[e]: best total score of a segmentation of cps[0, e) (0 = none yet, as in the reference);
    // id[e] / len[e]: the last piece of that segmentation.
    const best = new Float64Array(n + 1);
    const ids = new Int32Array(n + 1);
    const lens = new Int32Array(n + 1);
    const offer = (end: number, score: number, id: number, len: number) => {
      if (best[end] === 0 || score >= best[end]) {
        best[end] = score;
        ids[end] = id;
        lens[end] = len;
      }
    };
    for (let i = 0; i < n; i++) {
      let t: TrieNode | undefined = this.root.next.get(cps[i]!);
      let matched = false;
      for (let j = i; t; ) {
        if (t.id >= 0) {
          offer(j + 1, t.score + best[i]!, t.id, j + 1 - i);
          matched = true;
        }
        j++;
        t = j < n ? t.next.get(cps[j]!) : undefined;
      }
      if (!matched) offer(i + 1, best[i]!, UNKNOWN_ID, 1);
    }
    const out: number[] = [];
    for (let e = n; e > 0; e -= lens[e]!) out.push(ids[e]!);
    out.reverse();
    return out.filter((id, k) => !(id === UNKNOWN_ID && k > 0 && out[k - 1] === UNKNOWN_ID));
  }
}
