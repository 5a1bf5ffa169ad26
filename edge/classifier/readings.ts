/**
 * Decoded readings of a prompt: what an obfuscated request says once the
 * obfuscation is undone. A chat model reads base64, spaced-out letters,
 * leetspeak, ROT13 and reversed text well enough to follow them (Wei et al.
 * 2023, "Jailbroken": base64 and leetspeak attacks), while n-grams see
 * noise. The scorer scores each reading as it scores the prompt and keeps
 * the highest (RiskModel.logit), so a request hidden this way is judged as
 * the request it is.
 *
 * Each reading is made only when its trace is in the text, so an ordinary
 * prompt has none and costs one pass over its characters. A text that merely
 * speaks of reversing or of Caesar gets a ROT13 or reversed reading that is
 * noise, and noise scores near the model's prior, which can be above the
 * threshold: the scorer asks for those two only for a text that reads poorly,
 * and takes one only when its vocabulary knows more of its words than of the
 * text's (RiskModel.readingLogit). The other traces are specific enough to
 * take as they come.
 * - base64: a run of 16+ base64 characters, or three or more groups of 4+
 *   parted by white space, that decodes to UTF-8 text (the run replaced by
 *   its text; twice, for base64 inside base64);
 * - spaced: 5+ single letters in a row, each followed by 1-3 spaces or one
 *   of . - _ * ("b o m b", "b.o.m.b"), joined into words;
 * - leet: 2+ words with one of 0 1 3 4 5 7 8 @ $ between letters ("b0mb",
 *   "m4k3"), then every word mixing letters and those characters is read as
 *   letters;
 * - rot13: the text names ROT13 or a Caesar cipher;
 * - reversed: the text speaks of reversed or backwards text.
 * Pure TypeScript, bounded work: the text is cut to `maxChars` (head and
 * tail halves) first.
 */
import { decodeBase64 } from "./base64.ts";
import { capHeadTail } from "./features.ts";

export interface Reading {
  kind: "base64" | "spaced" | "leet" | "rot13" | "reversed";
  text: string;
}

/**
 * The readings of `text` (at most `maxChars` of it, head and tail), other
 * than the text itself. The ROT13 and reversed readings are whole
 * transforms, made only with `encoded` (the caller judges whether the text
 * could hide one); `wordwise` gives their word-by-word form.
 */
export function decodedReadings(text: string, maxChars: number, opts: { encoded?: boolean } = {}): Reading[] {
  const s = capHeadTail(text, maxChars);
  const out: Reading[] = [];
  const cue = cues(s);
  const b1 = cue.base64 ? base64Reading(s) : null;
  if (b1 !== null) {
    // The text with its runs decoded, and the decoded runs alone: "Respond to the following
    // base64-encoded request:" around a request scores lower than the request does.
    out.push({ kind: "base64", text: b1.text }, { kind: "base64", text: b1.decoded.join("\n") });
    const b2 = base64Reading(b1.text);
    if (b2 !== null) out.push({ kind: "base64", text: b2.text }, { kind: "base64", text: b2.decoded.join("\n") });
  }
  const spaced = cue.spaced ? spacedReading(s) : null;
  if (spaced !== null) out.push({ kind: "spaced", text: spaced });
  const leet = cue.leet ? leetReading(s) : null;
  if (leet !== null) out.push({ kind: "leet", text: leet });
  if (opts.encoded !== false && ROT13_CUE.test(s)) out.push({ kind: "rot13", text: rot13(s) });
  if (opts.encoded !== false && REVERSED_CUE.test(s)) out.push({ kind: "reversed", text: Array.from(s).reverse().join("") });
  return out;
}

const reverseWord = (w: string) => Array.from(w).reverse().join("");
/** A word's letters, lower case. */
const letters = (w: string) => w.toLowerCase().replace(/[^\p{L}]/gu, "");

/**
 * A ROT13 or reversed reading word by word: each word as decoded, or as it
 * was where that is the more common word (`rank`: a word, lower case, letters
 * only -> its frequency rank, 0 the most frequent, -1 unknown). The
 * instructions around an encoded request ("The following is ROT13: ...") then
 * stay readable beside the decoded request; the whole reading turns them to
 * noise, which weighs less against the request in some texts, so the scorer
 * reads both. "gb" is a word too, if a rarer one than "to".
 */
export function wordwise(r: Reading, rank: (word: string) => number): string {
  const undo = r.kind === "rot13" ? rot13 : reverseWord;
  return r.text
    .split(/(\s+)/)
    .map((w) => {
      const l = letters(w);
      if (l.length < 2) return w;
      const u = undo(w);
      const ru = rank(letters(u));
      if (ru < 0) return w;
      const rw = rank(l);
      return rw < 0 || ru < rw ? u : w;
    })
    .join("");
}

/**
 * One pass over the text's code units for the traces the readings need (a
 * superset: the readings below decide): a run of 16+ base64 characters with a
 * digit or + / in it, or three runs of 4+ parted by white space each with a
 * digit, + / or an inner capital; five single letters in a row; a leet
 * character between letters twice. Most prompts have none, and this is all
 * they pay.
 */
function cues(s: string): { base64: boolean; spaced: boolean; leet: boolean } {
  let base64 = false;
  let spaced = false;
  let leetWords = 0;
  let run = 0; // base64 characters in a row
  let runHasDigit = false;
  let runInnerUpper = false; // an upper-case letter after a lower-case letter or digit in the run
  let groups = 0; // runs of 4+ that look like base64 (a digit, + / or an inner capital), parted by white space
  let singles = 0; // one-letter words in a row, with only separators between them
  let wordLen = 0; // letters since the last non-letter
  let pendingLeet = false; // leet characters right after a letter, waiting for a letter
  /** Whether the run so far looks like a base64 group. */
  const group = () => run >= 4 && (runHasDigit || runInnerUpper);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const letter = (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c > 127;
    const digit = c >= 48 && c <= 57;
    if (letter || digit || c === 43 || c === 47 || c === 95 || c === 45) {
      if (c >= 65 && c <= 90 && run > 0) {
        const p = s.charCodeAt(i - 1);
        if ((p >= 97 && p <= 122) || (p >= 48 && p <= 57)) runInnerUpper = true;
      }
      run++;
      if (digit || c === 43 || c === 47) runHasDigit = true;
      if (run >= 16 && runHasDigit) base64 = true;
    } else {
      if (group()) {
        if (++groups >= 3) base64 = true;
      } else if (c !== 32 && c !== 10 && c !== 13 && c !== 9) groups = 0;
      else if (run > 0) groups = 0;
      run = 0;
      runHasDigit = false;
      runInnerUpper = false;
    }
    if (letter) {
      if (pendingLeet) leetWords++;
      pendingLeet = false;
      wordLen++;
      continue;
    }
    const leetChar = c === 48 || c === 49 || c === 51 || c === 52 || c === 53 || c === 55 || c === 56 || c === 64 || c === 36;
    pendingLeet = leetChar && (wordLen > 0 || pendingLeet);
    if (wordLen === 1) singles++;
    else if (wordLen > 1) singles = 0;
    if (singles >= 5) spaced = true;
    if (c !== 32 && c !== 46 && c !== 45 && c !== 95 && c !== 42) singles = 0;
    wordLen = 0;
  }
  if (group() && groups + 1 >= 3) base64 = true; // the last group ends the text
  if (wordLen === 1 && singles + 1 >= 5) spaced = true;
  return { base64, spaced, leet: leetWords >= 2 };
}

const BASE64_RUN = /[A-Za-z0-9+/_-]{16,}={0,2}/g;
/** Three or more groups of 4+ base64 characters parted by white space, the last possibly shorter and padded. */
const BASE64_GROUPS = /(?<![A-Za-z0-9+/])(?:[A-Za-z0-9+/]{4,}\s+){2,}[A-Za-z0-9+/]{2,}={0,2}(?![A-Za-z0-9+/])/g;
const MAX_BASE64_RUNS = 16;
const UTF8 = new TextDecoder("utf-8", { fatal: true });
/** Decoded text worth reading: mostly letters, digits, white space and punctuation, with a word in it. */
const TEXTLIKE = /^[\p{L}\p{N}\p{P}\p{Zs}\p{S}\n\r\t]*$/u;

/** The text with each base64 run that decodes to text replaced by that text, and those texts; null when none does. */
export function base64Reading(s: string): { text: string; decoded: string[] } | null {
  let runs = 0;
  const decoded: string[] = [];
  const decode = (span: string, run: string) => {
    if (++runs > MAX_BASE64_RUNS) return span;
    const text = base64Text(run);
    if (text === null) return span;
    decoded.push(text);
    return ` ${text} `;
  };
  let read = s.replace(BASE64_RUN, (run) => decode(run, run));
  // Base64 broken into groups by spaces or line breaks (as mail and some encoders write it).
  if (/[0-9+/]/.test(read)) read = read.replace(BASE64_GROUPS, (span) => (/[0-9+/]/.test(span) ? decode(span, span.replace(/\s+/g, "")) : span));
  return decoded.length > 0 ? { text: read, decoded } : null;
}

function base64Text(run: string, depth = 0): string | null {
  const std = run.replace(/-/g, "+").replace(/_/g, "/");
  const body = std.replace(/=+$/, "");
  if (body.length % 4 === 1) return null;
  let text: string;
  try {
    text = UTF8.decode(decodeBase64(std));
  } catch {
    return null;
  }
  // Long words and identifiers match the run too; they decode to bytes that are not text.
  if (TEXTLIKE.test(text) && /\p{L}{3}/u.test(text) && /\s/.test(text)) return text;
  // Base64 inside base64: text with no space, itself a run that decodes to text.
  return depth === 0 && /^[A-Za-z0-9+/_-]{16,}={0,2}$/.test(text) && base64Text(text, 1) !== null ? text : null;
}

// Single letters, each followed by a separator of 1-3 spaces or one of . - _ *, five or more in a row.
const SPACED_RUN = /(?<![\p{L}\p{N}])(?:\p{L}(?: {1,3}|[.\-_*]))+\p{L}(?![\p{L}\p{N}])/gu;

/** The text with its runs of spaced-out letters joined into words; null when it has none. */
export function spacedReading(s: string): string | null {
  let changed = false;
  const read = s.replace(SPACED_RUN, (run) => {
    if (run.replace(/[^\p{L}]/gu, "").length < 5) return run;
    changed = true;
    // Letters joined by marks ("b.o.m.b"): spaces part words. Letters joined by spaces: two or more part words.
    return run
      .split(/[.\-_*]/.test(run) ? / +/ : / {2,}/)
      .map((w) => w.replace(/[ .\-_*]/g, ""))
      .join(" ");
  });
  return changed ? read : null;
}

const LEET: Record<string, string> = { "0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "@": "a", $: "s" };
const LEET_CHARS = /[0134578@$]/;
/** A word with a leet character between two letters ("b0mb", "m4k3", "G1v3"). */
const LEET_INNER = /\p{L}[0134578@$]+\p{L}/u;

/** The text with leetspeak words read as letters, when two or more words look like leetspeak; else null. */
export function leetReading(s: string): string | null {
  const words = s.split(/(\s+)/);
  let cued = 0;
  for (const w of words) if (LEET_INNER.test(w) && ++cued >= 2) break;
  if (cued < 2) return null;
  // Every word of letters and leet characters, and short all-leet ones ("4" for "a", "70" for "to").
  const leetWord = (w: string) => LEET_CHARS.test(w) && (/\p{L}/u.test(w) || /^[0134578@$]{1,4}[.,!?;:]*$/.test(w));
  return words.map((w) => (leetWord(w) ? w.replace(/[0134578@$]/g, (c) => LEET[c]!) : w)).join("");
}

const ROT13_CUE = /\brot[\s-]?13\b|\bcaesar\b/i;
const REVERSED_CUE = /\brevers(?:e|ed|ing)\b|\bbackwards?\b|\bright[\s-]to[\s-]left\b/i;

/** ROT13 of each code unit (a lookup table: a callback per letter costs a millisecond on 16,000 characters). */
const ROT13 = new Uint16Array(128).map((_, c) => (c >= 65 && c <= 90 ? ((c - 52) % 26) + 65 : c >= 97 && c <= 122 ? ((c - 84) % 26) + 97 : c));

export function rot13(s: string): string {
  // A word: a regular expression is quicker than a buffer.
  if (s.length < 64) return s.replace(/[A-Za-z]/g, (c) => String.fromCharCode(ROT13[c.charCodeAt(0)]!));
  const out = new Uint16Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out[i] = c < 128 ? ROT13[c]! : c;
  }
  let r = "";
  for (let i = 0; i < out.length; i += 8192) r += String.fromCharCode(...out.subarray(i, i + 8192));
  return r;
}
