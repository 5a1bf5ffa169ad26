/**
 * Word-by-word BPE for sentencepiece-style tokenizer.json files (Llama 2,
 * Mistral, Phi-3, Gemma), where it gives the same tokens.
 *
 * Why. Those files have no pre-tokenizer that splits words: the normalizer
 * turns spaces into "▁" and the whole text reaches the BPE model as one
 * piece. @huggingface/tokenizers then merges the whole text in one priority
 * queue, never hitting its per-word cache (it caches pieces under 256
 * characters). On Llama 2's own file that cost 194 ms for a 35,000-character
 * prompt here, on the thread that runs every stream, against 8.7 ms word by
 * word (`npm run bench:tokenizer`, README "Latency").
 *
 * What. The model's `encode` gets each piece longer than LONG_PIECE cut
 * before every "▁" that follows another character ("▁Once▁upon" -> "▁Once",
 * "▁upon"; a run of "▁" stays with the word after it).
 *
 * Why the tokens are the same. BPE merges the pair of adjacent tokens with
 * the lowest rank (leftmost first on a tie) until no pair has a rank. At a
 * cut, the token on the left always ends in a character other than "▁" and
 * the token on the right starts with "▁". If no merge joins such a pair --
 * no merge's result has a "▁" right after another character -- no merge ever
 * crosses the cut, so each side evolves exactly as it would alone, in the
 * same order. `applies` checks that on the merge list at load, and checks
 * what else would tell the pieces apart: merges matched against the whole
 * piece first (`ignore_merges`) and word-end or continuing-subword suffixes.
 * Where any of these holds, the model is left as it is.
 */
import { BPE, type Tokenizer as HfLibTokenizer } from "@huggingface/tokenizers";

/** The sentencepiece word-start marker the normalizer writes for a space. */
export const WORD_START = "\u2581";
const WORD_START_CODE = 0x2581;

/**
 * Pieces up to this many characters are encoded whole, as the library's cache
 * bound (max_length_to_cache) does: on Gemma 2's file, whose added tokens cut
 * the text at line breaks, cutting short lines again cost more than it saved.
 */
export const LONG_PIECE = 256;

/** Cuts a piece before every "▁" that follows another character. */
export function splitAtWordStarts(piece: string): string[] {
  const out: string[] = [];
  let start = 0;
  for (let i = 1; i < piece.length; i++) {
    if (piece.charCodeAt(i) === WORD_START_CODE && piece.charCodeAt(i - 1) !== WORD_START_CODE) {
      out.push(piece.slice(start, i));
      start = i;
    }
  }
  out.push(piece.slice(start));
  return out;
}

/** True when some merge's result has a "▁" right after another character (a merge that crosses a cut). */
export function mergeCrossesWordStart(merges: ReadonlyArray<readonly [string, string]>): boolean {
  for (const [a, b] of merges) {
    // Within a and within b such a pair would come from an earlier merge, checked in its turn; only the join is new.
    if (b.startsWith(WORD_START) && a.length > 0 && !a.endsWith(WORD_START)) return true;
  }
  return false;
}

/** Whether word-by-word encoding gives the same tokens for this model (see the file comment). */
export function applies(model: unknown): model is BPE {
  if (!(model instanceof BPE)) return false;
  if (model.ignore_merges || model.end_of_word_suffix || model.continuing_subword_suffix) return false;
  return !mergeCrossesWordStart(model.merges);
}

/** Makes the library tokenizer's BPE model encode word by word when that is exact; returns whether it does. */
export function encodeWordByWord(tokenizer: HfLibTokenizer): boolean {
  const model = tokenizer.model;
  if (!applies(model)) return false;
  const whole = model.encode.bind(model);
  const long = (p: string) => p.length > LONG_PIECE;
  model.encode = (pieces: string[]) => whole(pieces.some(long) ? pieces.flatMap((p) => (long(p) ? splitAtWordStarts(p) : [p])) : pieces);
  return true;
}
