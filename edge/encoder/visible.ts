/**
 * The text the sentence encoder reads: what a reader of the prompt sees,
 * in the letters the encoder knows. The first stage folds its text the same
 * way before it counts words (classifier/features.ts); the encoder, which
 * read raw text, and marks a reader never notices moved its embedding far
 * (model card, "v1.3.0: the encoder reads the visible text"; npm run
 * eval:classifier): accents on every vowel ("hów tó máké") took the whole
 * gate's recall on held-out harmful requests from 0.85 to 0.72, and
 * zero-width spaces between letters took its false positives on benign
 * instructions from 1% to 8%.
 *
 * - Unicode tag characters (invisible copies of ASCII) become the ASCII they
 *   copy; other format characters (zero-width space and joiners, soft
 *   hyphen, word joiner, byte-order mark, direction marks) are dropped.
 * - Compatibility forms are unfolded (NFKD: full-width and mathematical
 *   letters, ligatures).
 * - In a word that mixes Latin letters with Cyrillic or Greek look-alikes,
 *   the look-alikes become the Latin letters they imitate ("bоmb" with a
 *   Cyrillic o); so do words made only of look-alikes (a Cyrillic "а") in a
 *   text whose letters are mostly Latin. Other words of another script are
 *   left alone.
 * - Combining marks on Latin letters, or on no letter at all, are dropped
 *   ("café" reads "cafe"; stacked marks go); marks of other scripts stay,
 *   recomposed (NFC).
 *
 * An ASCII text (most prompts) is returned as it is. The encoder reads only
 * the ends of a long text, and `readableEnds` cleans only those, a chunk at a
 * time, so that a megabyte of non-ASCII text costs what its ends do.
 */
import { latinLookalike } from "../classifier/features.ts";

const ASCII_ONLY = /^[\x00-\x7f]*$/;
const TAG = /[\u{e0020}-\u{e007e}]/gu;
const FORMAT = /\p{Cf}/gu;
const WORD = /[\p{L}\p{M}]+/gu;
const LATIN = /[A-Za-z]/;
const LETTERS = /\p{L}/gu;
const LATIN_LETTERS = /[A-Za-z]/g;
const MARK = /\p{M}/u;
const LETTER = /\p{L}/u;
/** Marks right after a Latin letter (and the marks before them), or after anything that is not a letter. */
const STRAY_MARKS = /(?<=[A-Za-z]\p{M}*|(?:^|[^\p{L}\p{M}]))\p{M}+/gu;

export function visibleText(text: string): string {
  if (ASCII_ONLY.test(text)) return text;
  const unfolded = text
    .replace(TAG, (t) => String.fromCharCode(t.codePointAt(0)! - 0xe0000))
    .replace(FORMAT, "")
    .normalize("NFKD");
  const letters = unfolded.match(LETTERS)?.length ?? 0;
  const latinText = 2 * (unfolded.match(LATIN_LETTERS)?.length ?? 0) > letters;
  return unfolded
    .replace(WORD, (w) => latinWord(w, latinText))
    .replace(STRAY_MARKS, "")
    .normalize("NFC");
}

/** The Latin letter `ch` imitates, in its case, or "" if none. */
function lookalike(ch: string): string {
  const lower = ch.toLowerCase();
  const g = lower.length === 1 ? latinLookalike(lower.charCodeAt(0)) : 0;
  if (g === 0) return "";
  return lower === ch ? String.fromCharCode(g) : String.fromCharCode(g).toUpperCase();
}

/** A word's look-alikes as Latin, if it has Latin letters or the text is mostly Latin, and no other letters of another script. */
function latinWord(word: string, latinText: boolean): string {
  if (ASCII_ONLY.test(word) || !(latinText || LATIN.test(word))) return word;
  let out = "";
  for (const ch of word) {
    if (ch < "\x80" || MARK.test(ch)) {
      out += ch;
      continue;
    }
    const g = lookalike(ch);
    if (!g && LETTER.test(ch)) return word; // a letter of another script that imitates none: a word of that script
    out += g || ch;
  }
  return out;
}

/** Raw characters cleaned at a time from an end of a long text. */
const CHUNK = 2_048;
/** Most raw characters cleaned from each end: padding with more invisible characters than this hides what follows it from the encoder. */
export const SCAN_LIMIT = 1 << 16;

const collapse = (s: string) => s.replace(/\s+/g, " ");

/**
 * What the encoder reads of `text`: its visible text with white space
 * collapsed and trimmed; of a text longer than 4 chunks, only its two ends,
 * each with more than `want` visible characters where the text has them
 * (cleaned a chunk at a time, at most SCAN_LIMIT raw characters from each),
 * joined by a space. A reader taking `want` characters from each end of the
 * result gets what it would get from the whole text cleaned, chunk edges aside.
 */
export function readableEnds(text: string, want: number): string {
  if (text.length <= 4 * CHUNK) return collapse(visibleText(text)).trim();
  let head = "";
  let i = 0;
  while (i < text.length && i < SCAN_LIMIT && head.trimStart().length <= want) {
    head = collapse(head + visibleText(text.slice(i, i + CHUNK)));
    i += CHUNK;
  }
  let tail = "";
  let j = text.length;
  while (j > i && text.length - j < SCAN_LIMIT && tail.trimEnd().length <= want) {
    const k = Math.max(i, j - CHUNK);
    tail = collapse(visibleText(text.slice(k, j)) + tail);
    j = k;
  }
  return collapse(j <= i ? head + tail : `${head} ${tail}`).trim();
}
