/**
 * Text normalisation and hashed n-gram features for the prompt-risk classifier.
 *
 * Pure TypeScript, no Node or Deno APIs: the same code runs in the edge (Deno),
 * in tests (Node/vitest) and in the offline trainer, so training and serving see
 * exactly the same features.
 *
 * Pipeline (all O(n) in the prompt length):
 *  1. cap: prompts longer than `maxChars` keep their head and tail halves
 *     (bounds the work on a 100 KB prompt; a jailbreak's request is usually at
 *     one end of the template).
 *  2. lone UTF-16 surrogates become U+FFFD, then NFKD (folds full-width forms,
 *     ligatures, math alphanumerics such as "𝐛𝐨𝐦𝐛", and splits accents off),
 *     then lower case.
 *  3. one pass over the code units: combining marks, zero-width and format
 *     characters, variation selectors are dropped (they hide words from n-grams);
 *     Unicode "tag" characters (ASCII smuggling, U+E0020..E007E) are read as the
 *     ASCII they encode; common Cyrillic/Greek homoglyphs map to Latin; every
 *     run of non-word characters becomes one space.
 *  4. interior leetspeak: 0 1 3 4 5 7 @ $ between two letters read as o i e a s t a s
 *     ("b0mb", "c0c4ine", "h@ck"), while "gpt4", "mp3", "2024" stay as they are.
 *  5. (config `letterRuns`, from 2.5.0) a run of three or more of one letter is
 *     cut to `letterRuns` letters: "heyyy", "hiiii" -> "hey", "hi" at 1.
 *
 * Features, hashed (FNV-1a + murmur3 finaliser) into `dim` buckets (a power of two):
 *  - character n-grams, n in [charMin, charMax], over " w1 w2 ... wk " (they cross
 *    word boundaries, so they carry some word-order information);
 *  - word unigrams and word bigrams.
 * Each occurrence adds 1 to its bucket; the scorer divides by sqrt(occurrences).
 */

export interface FeatureConfig {
  /** number of hash buckets; a power of two */
  dim: number;
  charMin: number;
  charMax: number;
  wordUnigrams: boolean;
  wordBigrams: boolean;
  /** prompts longer than this keep head and tail halves */
  maxChars: number;
  /**
   * Drop English function words (STOPWORDS) before hashing. Meant to stop the
   * model from learning question phrasing ("How can I ...", common in the harmful
   * sets) as risk; off in the shipped model because it lowered the validation AUROC.
   */
  dropStopwords?: boolean;
  /**
   * Cut every run of three or more of one letter to `letterRuns` letters
   * ("heyyy" -> "hey" at 1). Elongation is how people write greetings
   * ("hiii", "yooo"), and each length would otherwise be a word of its own.
   * Absent (or 0) in artifacts before 2.5.0: they are scored without it.
   */
  letterRuns?: number;
}

export const DEFAULT_FEATURE_CONFIG: FeatureConfig = {
  dim: 1 << 20,
  charMin: 3,
  charMax: 5,
  wordUnigrams: true,
  wordBigrams: true,
  maxChars: 16_384,
  dropStopwords: false,
  letterRuns: 1,
};

const SPACE = 32;
const FNV_OFFSET = 0x811c9dc5 | 0;
const FNV_PRIME = 0x01000193;
const SEED_CHAR = 0x3c6ef372 | 0;
const SEED_WORD = 0x5bd1e995 | 0;
const SEED_BIGRAM = 0x1b873593 | 0;

/** Function words dropped when `dropStopwords` is set (part of the artifact's contract). */
export const STOPWORDS: readonly string[] = (
  "a an the and or but if then else so than that this these those there here of to in on at by for with from into onto " +
  "about as is am are was were be been being do does did doing done have has had having can could will would shall should " +
  "may might must i me my mine myself we us our ours you your yours yourself he him his she her hers it its they them their " +
  "what which who whom whose when where why how all any some each every no not nor only own same too very just also " +
  "s t d ll m re ve don doesn didn isn aren wasn weren won wouldn couldn shouldn can't please let get got give tell"
).split(" ");

/** FNV-1a 32-bit hash of a word (the featurizer's word identity; see `Featurizer.wordHashes`). */
export function wordHashOf(word: string): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < word.length; i++) h = Math.imul(h ^ word.charCodeAt(i), FNV_PRIME);
  return h | 0;
}

function wordHash(buf: ArrayLike<number>, start: number, end: number): number {
  let h = FNV_OFFSET;
  for (let i = start; i < end; i++) h = Math.imul(h ^ buf[i], FNV_PRIME);
  return h | 0;
}
const STOPWORD_HASHES = new Set<number>(STOPWORDS.map(wordHashOf));

/** murmur3 32-bit finaliser: spreads FNV's weak low bits before masking. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Homoglyphs (after NFKD + lower case) that look like Latin letters. */
const HOMOGLYPHS = new Uint16Array(65_536); // 0 = not a homoglyph
function addGlyphs(from: string, to: string): void {
  for (let i = 0; i < from.length; i++) HOMOGLYPHS[from.charCodeAt(i)] = to.charCodeAt(i);
}
// Cyrillic
addGlyphs("аԁеһіјкӏмпорԛѕтуԝхуьвнсґ", "adehijklmnopqstywxybbhcr");
addGlyphs("ѐёіїј", "eeiij");
// Greek
addGlyphs("αβεηικνορτυχϲϳω", "abeniknoptuxcjw");
// Latin look-alikes outside ASCII that NFKD leaves alone
addGlyphs("ıȷɑɡɩʟꞵ", "ijagilb");

/** The Latin letter a lower-case code unit (after NFKD) looks like, or 0 (the table above; the encoder's visible.ts reads it too). */
export function latinLookalike(c: number): number {
  return c < 128 ? 0 : HOMOGLYPHS[c]!;
}

/** Leetspeak reading of a code unit (0 = none); only ASCII is mapped. */
const LEET_TABLE = new Uint8Array(128);
for (const [from, to] of ["0o", "1i", "3e", "4a", "5s", "7t", "@a", "$s"]) LEET_TABLE[from.charCodeAt(0)] = to.charCodeAt(0);
const leet = (c: number): number => (c < 128 ? LEET_TABLE[c] : 0);

// Per-code-unit class for the BMP, computed lazily: 0 unknown, 1 word, 2 separator, 3 dropped.
const CLASS = new Uint8Array(65_536);
const WORD_RE = /[\p{L}\p{N}]/u;
const DROP_RE = /[\p{Mn}\p{Me}\p{Cf}]/u;
function classOf(c: number): number {
  let k = CLASS[c];
  if (k !== 0) return k;
  if ((c >= 97 && c <= 122) || (c >= 48 && c <= 57)) k = 1;
  else if (c < 128) k = 2;
  else if (c >= 0xd800 && c <= 0xdfff) k = 2; // surrogate halves are handled by the caller
  else if ((c >= 0xfe00 && c <= 0xfe0f) || c === 0x00ad || c === 0x180e || c === 0x034f) k = 3;
  else {
    const ch = String.fromCharCode(c);
    if (DROP_RE.test(ch)) k = 3;
    else if (WORD_RE.test(ch)) k = 1;
    else k = 2;
  }
  CLASS[c] = k;
  return k;
}

const ASCII_ONLY = /^[\x00-\x7f]*$/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

function isLetter(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 128 && c !== SPACE && classOf(c) === 1 && !(c >= 0xd800 && c <= 0xdfff));
}

/** `s` if it has at most `maxChars` units, else its first and last `maxChars / 2` joined by a space. */
export function capHeadTail(s: string, maxChars: number): string {
  if (s.length <= maxChars) return s;
  const half = maxChars >> 1;
  return s.slice(0, half) + " " + s.slice(s.length - half);
}

/**
 * Steps 1-2: cap, repair surrogates, NFKD, lower case. NFKD can expand text (up
 * to 18x for a few ligatures), so long texts are decomposed in small chunks from
 * the head and from the tail until each side has `maxChars / 2` units: the work
 * stays bounded whatever the input, and the result has at most `maxChars` units.
 */
export function foldText(input: string, maxChars: number): string {
  const capped = capHeadTail(input, maxChars);
  // ASCII is its own NFKD and has no surrogates: skip both passes (most prompts).
  if (ASCII_ONLY.test(capped)) return capped.toLowerCase();
  const s = capped.replace(LONE_SURROGATE, "\uFFFD");
  const CHUNK = 256;
  const budget = maxChars >> 1;
  let out: string;
  if (s.length <= CHUNK) out = s.normalize("NFKD");
  else {
    let head = "";
    let i = 0;
    while (i < s.length && head.length < budget) {
      const j = Math.min(s.length, i + CHUNK);
      head += s.slice(i, j).normalize("NFKD");
      i = j;
    }
    if (i >= s.length) out = head;
    else {
      let tail = "";
      let k = s.length;
      while (k > i && tail.length < budget) {
        const j = Math.max(i, k - CHUNK);
        tail = s.slice(j, k).normalize("NFKD") + tail;
        k = j;
      }
      out = k > i ? head + " " + tail : head + tail;
    }
  }
  return capHeadTail(out.toLowerCase(), maxChars).replace(LONE_SURROGATE, "\uFFFD");
}

/** The feature config's options that change normalisation (`normalizeInto`). */
export type NormalizeOptions = Pick<FeatureConfig, "dropStopwords" | "letterRuns">;

/**
 * Steps 3-5 on text already folded by `foldText`: writes code units (words
 * separated by single spaces, with a leading and trailing space) into `out`,
 * which must hold at least `s.length + 3` units. Returns the count written.
 */
export function normalizeInto(s: string, out: Uint16Array, opts: NormalizeOptions = {}): number {
  const dropStopwords = opts.dropStopwords === true;
  const letterRuns = opts.letterRuns ?? 0;
  let n = 0;
  out[n++] = SPACE;
  const len = s.length;
  for (let i = 0; i < len; i++) {
    let c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < len) {
      const lo = s.charCodeAt(i + 1);
      const cp = ((c - 0xd800) << 10) + (lo - 0xdc00) + 0x10000;
      i++;
      if (cp >= 0xe0000 && cp <= 0xe007f) {
        // Unicode tag characters: invisible copies of ASCII used to smuggle text.
        if (cp >= 0xe0020 && cp <= 0xe007e) {
          c = cp - 0xe0000;
          if (c >= 65 && c <= 90) c += 32;
        } else continue;
      } else {
        // Other astral characters (emoji, rare scripts) separate words.
        if (out[n - 1] !== SPACE) out[n++] = SPACE;
        continue;
      }
    }
    if (c >= 128) {
      const g = HOMOGLYPHS[c];
      if (g !== 0) c = g;
    }
    const k = classOf(c);
    if (k === 1 || leet(c) !== 0) {
      // '@' and '$' are not word characters; keep them for the leetspeak pass only
      // when they sit right after a letter.
      if (k !== 1 && !isLetter(out[n - 1])) {
        if (out[n - 1] !== SPACE) out[n++] = SPACE;
        continue;
      }
      out[n++] = c;
    } else if (k === 3) {
      continue;
    } else if (out[n - 1] !== SPACE) {
      out[n++] = SPACE;
    }
  }
  if (out[n - 1] !== SPACE) out[n++] = SPACE;
  // Interior leetspeak: a leet character with letters (or more leet) on both sides.
  for (let i = 1; i < n - 1; i++) {
    if (leet(out[i]) === 0) continue;
    const prev = out[i - 1];
    if (!isLetter(prev)) {
      if (out[i] === 64 || out[i] === 36) out[i] = SPACE; // stray @ or $
      continue;
    }
    let j = i + 1;
    while (j < n && leet(out[j]) !== 0 && !isLetter(out[j])) j++;
    if (j < n && isLetter(out[j])) {
      for (let t = i; t < j; t++) out[t] = leet(out[t]);
      i = j;
    } else if (out[i] === 64 || out[i] === 36) {
      out[i] = SPACE;
    }
  }
  // Stray '@'/'$' turned into spaces may have left double spaces: compact,
  // cut long letter runs and drop stopwords when asked. After the leetspeak
  // pass, so "l0000l" is cut like "loooool".
  let w = 1;
  let wordStart = 1;
  let prev = SPACE;
  let run = 0;
  for (let r = 1; r < n; r++) {
    const c = out[r];
    run = c === prev ? run + 1 : 1;
    prev = c;
    if (letterRuns > 0 && run >= 3 && run > letterRuns && isLetter(c)) {
      // The third copy of a letter: keep `letterRuns` of the three; later copies: skip.
      if (run === 3) w -= 2 - letterRuns;
      continue;
    }
    if (c === SPACE) {
      if (out[w - 1] === SPACE) continue;
      if (dropStopwords && STOPWORD_HASHES.has(wordHash(out, wordStart, w))) {
        w = wordStart;
        continue;
      }
      out[w++] = c;
      wordStart = w;
      continue;
    }
    out[w++] = c;
  }
  return w;
}

/** Normalised text as a string, as a featurizer with `config` reads it (for tests, debugging and vocabulary checks). */
export function normalizeText(input: string, config: NormalizeOptions & Pick<FeatureConfig, "maxChars"> = DEFAULT_FEATURE_CONFIG): string {
  const folded = foldText(input, config.maxChars);
  const buf = new Uint16Array(folded.length + 4);
  const n = normalizeInto(folded, buf, config);
  let s = "";
  for (let i = 0; i < n; i += 4096) s += String.fromCharCode(...buf.subarray(i, Math.min(n, i + 4096)));
  return s;
}

/**
 * Features of a text cut into pieces (see `Featurizer.indicesPieces`). Views
 * into the featurizer's scratch buffers, valid until its next call.
 */
export interface PieceFeatures {
  pieces: number;
  /** features inside each piece, piece after piece: piece p is idx[p ? idxEnd[p-1] : 0 .. idxEnd[p]) */
  idx: Int32Array;
  idxEnd: Int32Array;
  /** features that span a cut (character n-grams and word bigrams across it): whole text only */
  cross: Int32Array;
  /** FNV hashes of the words, piece after piece, likewise delimited by wordEnd */
  words: Int32Array;
  wordEnd: Int32Array;
}

/**
 * Extracts hashed features from a string. Not re-entrant (it reuses scratch
 * buffers), which is fine in single-threaded JS.
 */
export class Featurizer {
  readonly config: FeatureConfig;
  private readonly mask: number;
  private buf = new Uint16Array(1024);
  private scratch = new Uint16Array(1024);
  private starts = new Int32Array(64);
  private idx = new Int32Array(4096);
  private cross = new Int32Array(256);
  private words = new Int32Array(1024);
  private idxEnd = new Int32Array(64);
  private wordEnd = new Int32Array(64);
  /** the result of the last `indicesPieces` call, one object reused per call */
  private readonly last: PieceFeatures = { pieces: 0, idx: this.idx, idxEnd: this.idxEnd, cross: this.cross, words: this.words, wordEnd: this.wordEnd };

  constructor(config: FeatureConfig = DEFAULT_FEATURE_CONFIG) {
    if (config.dim <= 0 || (config.dim & (config.dim - 1)) !== 0) throw new Error("feature dim must be a power of two");
    if (config.charMin < 1 || config.charMax < config.charMin) throw new Error("bad char n-gram range");
    this.config = config;
    this.mask = config.dim - 1;
  }

  /**
   * Returns the bucket index of every feature occurrence (with repeats) in a
   * view that is valid until the next call.
   */
  indices(text: string): Int32Array {
    return this.indicesFolded(foldText(text, this.config.maxChars));
  }

  /** Like `indices`, for text already passed through `foldText` (or a slice of such text). */
  indicesFolded(folded: string): Int32Array {
    const f = this.indicesPieces(folded, [0, folded.length], 1);
    return f.idx.subarray(0, f.idxEnd[0]);
  }

  /** FNV-1a hashes (`wordHashOf`) of the words of the last `indices*` call, in order; valid until the next call. */
  wordHashes(): Int32Array {
    const f = this.last;
    return f.words.subarray(0, f.pieces > 0 ? f.wordEnd[f.pieces - 1] : 0);
  }

  /**
   * Features of `folded` cut at `cuts` (ascending offsets, cuts[0] = 0,
   * cuts[pieces] = folded.length), in one pass: each piece's own features are
   * exactly those of the piece featurised alone, and `cross` holds the ones
   * that span a cut, so that all of them together are exactly the features of
   * the whole text. The scorer uses this to score a long text and each of its
   * sentences without featurising the text twice.
   */
  indicesPieces(folded: string, cuts: ArrayLike<number>, pieces: number): PieceFeatures {
    const cfg = this.config;
    const need = folded.length + 4;
    if (this.buf.length < need) this.buf = new Uint16Array(Math.max(need, this.buf.length * 2));
    if (this.scratch.length < need) this.scratch = new Uint16Array(this.buf.length);
    if (this.starts.length <= pieces) {
      this.starts = new Int32Array(pieces * 2 + 2);
      this.idxEnd = new Int32Array(pieces * 2 + 2);
      this.wordEnd = new Int32Array(pieces * 2 + 2);
    }
    const buf = this.buf;
    const starts = this.starts;
    // Normalise piece by piece into one buffer; neighbours share the space between them.
    let n: number;
    if (pieces === 1) {
      n = normalizeInto(cuts[0] === 0 && cuts[1] === folded.length ? folded : folded.slice(cuts[0], cuts[1]), buf, cfg);
    } else {
      buf[0] = SPACE;
      n = 1;
      for (let p = 0; p < pieces; p++) {
        starts[p] = n - 1;
        const w = normalizeInto(folded.slice(cuts[p], cuts[p + 1]), this.scratch, cfg);
        buf.set(this.scratch.subarray(1, w), n);
        n += w - 1;
      }
    }
    starts[0] = 0;
    starts[pieces] = n - 1;
    const perPos = cfg.charMax - cfg.charMin + 1 + 2;
    const cap = n * perPos + 8;
    if (this.idx.length < cap) this.idx = new Int32Array(Math.max(cap, this.idx.length * 2));
    if (this.cross.length < cap && pieces > 1) this.cross = new Int32Array(Math.max(cap, this.cross.length * 2));
    if (this.words.length < n) this.words = new Int32Array(Math.max(n, this.words.length * 2));
    const { idx, cross, words, idxEnd, wordEnd } = this;
    const mask = this.mask;
    const { charMin, charMax } = cfg;
    let k = 0;
    let kc = 0;
    let wc = 0;
    let prev = 0;
    let hasPrev = false;
    for (let p = 0; p < pieces; p++) {
      const a = starts[p];
      const b = starts[p + 1];
      // Character n-grams starting in [a, b) (the last piece also at its final space).
      const iEnd = p === pieces - 1 ? b + 1 : b;
      for (let i = a; i < iEnd && i + charMin <= n; i++) {
        let h = FNV_OFFSET ^ SEED_CHAR;
        const end = Math.min(n, i + charMax);
        for (let j = i; j < end; j++) {
          h = Math.imul(h ^ buf[j], FNV_PRIME);
          if (j - i + 1 >= charMin) {
            const f = fmix32(h ^ (j - i + 1)) & mask;
            if (j <= b) idx[k++] = f;
            else cross[kc++] = f;
          }
        }
      }
      // Word unigrams and bigrams (a bigram across the cut before this piece is a crossing feature).
      let h = FNV_OFFSET;
      let inWord = false;
      let first = true;
      for (let i = a + 1; i <= b; i++) {
        const c = buf[i];
        if (c === SPACE) {
          if (inWord) {
            words[wc++] = h;
            if (cfg.wordUnigrams) idx[k++] = fmix32(h ^ SEED_WORD) & mask;
            if (cfg.wordBigrams && hasPrev) {
              const g = fmix32(Math.imul(prev, 0x9e3779b1) ^ h ^ SEED_BIGRAM) & mask;
              if (first) cross[kc++] = g;
              else idx[k++] = g;
            }
            prev = h;
            hasPrev = true;
            inWord = false;
            first = false;
          }
          h = FNV_OFFSET;
        } else {
          h = Math.imul(h ^ c, FNV_PRIME);
          inWord = true;
        }
      }
      idxEnd[p] = k;
      wordEnd[p] = wc;
    }
    const r = this.last;
    r.pieces = pieces;
    r.idx = idx;
    r.idxEnd = idxEnd;
    r.cross = cross.subarray(0, kc);
    r.words = words;
    r.wordEnd = wordEnd;
    return r;
  }
}
