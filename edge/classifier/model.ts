/**
 * Prompt-risk scorer: hashed character/word n-grams -> counts / sqrt(n) ->
 * logistic regression, plus (format 2) a word-embedding head (embedding.ts).
 * Pure TypeScript (no Node or Deno APIs): build it from the artifact's parsed
 * JSON (or its text / UTF-8 bytes) with `RiskModel.fromArtifact`.
 */
import { Featurizer, foldText, wordHashOf, type FeatureConfig } from "./features.ts";
import { decodedReadings, wordwise } from "./readings.ts";
import { decodeBase64 } from "./base64.ts";
import { EmbeddingHead, type EmbeddingArtifact } from "./embedding.ts";
import { Vocabulary } from "./vocabulary.ts";

export const ARTIFACT_FORMAT = "steerguard.prompt-risk.hashed-lr";
/**
 * 2: n-gram counts divided by sqrt(occurrences) instead of their L2 norm, and
 * the optional word-embedding head. Version 1 artifacts must be retrained.
 * 3: the feature config's `letterRuns` (features.ts). A scorer that reads only
 * 2 would ignore it and featurise "heyyy" unlike the trainer did, so it must
 * refuse the artifact; this scorer still reads 2 (no `letterRuns`: unchanged).
 */
export const ARTIFACT_FORMAT_VERSION = 3;
const READABLE_FORMAT_VERSIONS: readonly number[] = [2, 3];

/** The JSON artifact written by `npm run train:classifier`. */
export interface RiskArtifact {
  format: typeof ARTIFACT_FORMAT;
  formatVersion: number;
  /** semantic version of the trained model */
  modelVersion: string;
  features: FeatureConfig;
  bias: number;
  /** the shipped decision threshold on the risk (0..1) */
  threshold: number;
  /** weights as little-endian int16, base64; weight = int * weightScale */
  weightEncoding: "int16le-base64";
  weightScale: number;
  weights: string;
  /** score sentences/lines separately too (see RiskModel.logit); absent = whole text only */
  segments?: SegmentRule;
  /** word-embedding head added to the n-gram logit (embedding.ts); absent = n-grams only */
  embedding?: EmbeddingArtifact;
  /** free-form training metadata (data, seed, metrics); ignored by the scorer */
  training?: unknown;
}

/** An OpenAI-style chat message; `content` may be a string or an array of parts. */
export interface ChatMessage {
  role: string;
  content?: string | null | ReadonlyArray<{ type?: string; text?: string } | string>;
  name?: string;
}

export interface RiskResult {
  /** risk in [0, 1] */
  risk: number;
  /** risk >= the shipped threshold */
  risky: boolean;
}

/** One text the first stage scored in a conversation: a client message, or the client turns joined. */
export interface ScoredPart {
  /** "turn:<i>" (message index) or "joined" */
  source: string;
  risk: number;
  /** as in ConversationRiskResult, for this text */
  reading?: string;
  piece?: string;
  /**
   * for a message with a `piece`: its next riskiest sentences that the first stage flags alone (at
   * most PIECES_HANDED - 1), each with its own first-stage risk, which the second stage decides on
   * its own: a harmless sentence that outscores the request cannot then be the only one of the
   * middle that the encoder reads
   */
  pieces?: { text: string; risk: number }[];
  /**
   * the highest first-stage risk of the sentences of such a message past those handed over, which
   * keeps the first stage's decision: a crowd of harmless sentences that outscore the request
   * cannot push a sentence the first stage flags out of the gate
   */
  unread?: number;
}

export interface ConversationRiskResult extends RiskResult {
  /** which part produced the maximum: "last", "turn:<i>" (message index) or "joined" */
  source: string;
  /**
   * every text scored: each client message with text, in order, then (for more than one) the
   * joined turns. The risk is the highest of theirs; the second stage decides each one in its
   * band on its own (edge/risk), so that no text can take another's place in its read.
   */
  parts: ScoredPart[];
  /** when a decoded reading of that part (readings.ts) gave the maximum: that reading, which the second stage reads beside the text */
  reading?: string;
  /**
   * when that part is a message longer than the second stage's encoder reads whole
   * (SECOND_STAGE_VIEW): its highest-scoring piece, which the second stage reads beside it
   */
  piece?: string;
}

/**
 * Logit of a text without a single word: risk 0. The model has seen no such
 * text, and its prior alone lands near the threshold, so an empty prompt would
 * be flagged at random.
 */
const NO_EVIDENCE = -Infinity;

/**
 * ROT13 and reversed readings are tried only for a text with fewer than this
 * share of its words in the vocabulary: an encoded request makes a text
 * unreadable (held-out requests sent as ROT13 or reversed with an English
 * instruction in front: 95% below 0.67), while 90% of the training-side benign
 * texts that speak of reversing or of Caesar read at 0.8 or more.
 */
const ENCODED_BELOW = 0.8;

/** The decoded readings (readings.ts) are made of at most this many characters of a text: its first and last 4,096. */
const READINGS_CHARS = 8_192;

/**
 * Characters of a text the second stage's encoder reads whole (600 from each end, HEAD_CHARS in
 * edge/encoder/pieces.ts; not imported, so that the classifier does not depend on the encoder's
 * folder: edge/risk/index.test.ts checks the two agree). Of a longer message it also reads the
 * highest-scoring piece (`piece`): padding at both ends would otherwise hide the request from it.
 */
export const SECOND_STAGE_VIEW = 1_200;

/**
 * The riskiest sentences a long message hands the second stage: its `piece`, and the next ones
 * that the first stage flags alone (ScoredPart.pieces). Each one handed costs an encoder read:
 * three took the gate's p99 over 2,000 held-out prompts from 10-14 to 15-17 ms here.
 */
export const PIECES_HANDED = 2;

/** Pieces kept per text scored: those handed over, and the next, whose risk is `unread`. */
const TOP_KEPT = PIECES_HANDED + 1;

/** A sentence of a text (as the featurizer folds it) and its first-stage logit alone. */
interface TopPiece {
  text: string;
  z: number;
}

/**
 * What a scored text hands the second stage: `piece`, the sentence read beside the text (the
 * deciding window's riskiest, for a text read window by window); `more`, the next riskiest
 * sentences of the whole text that score at least `minZ` alone (the first stage flags them), each
 * to be decided on its own; and `unread`, the logit of the riskiest sentence past those, which
 * keeps the first stage's decision.
 */
function handed(r: { z: number; reading?: string; piece?: string; tops: TopPiece[] }, minZ: number): { z: number; reading?: string; piece?: string; more?: TopPiece[]; unread?: number } {
  const rest = r.tops.filter((p) => p.text !== r.piece);
  const more = rest.slice(0, PIECES_HANDED - 1).filter((p) => p.z >= minZ);
  const unread = rest[more.length]?.z;
  return {
    z: r.z,
    ...(r.reading === undefined ? {} : { reading: r.reading }),
    ...(r.piece === undefined ? {} : { piece: r.piece }),
    ...(more.length ? { more } : {}),
    ...(unread === undefined ? {} : { unread }),
  };
}

/** Piece `i` of a text cut at `cuts`, without the white space around it. */
const pieceText = (text: string, cuts: readonly number[], i: number) => text.slice(cuts[i], cuts[i + 1]).trim();

/** Keeps the `n` highest-scoring pieces offered, distinct texts only, highest first. */
function keepTop(top: TopPiece[], offered: readonly TopPiece[], n: number): TopPiece[] {
  const all = [...top, ...offered].sort((a, b) => b.z - a.z);
  const seen = new Set<string>();
  return all.filter((p) => !seen.has(p.text) && seen.add(p.text)).slice(0, n);
}

/**
 * foldText's cap when a whole text is folded to find its windows: above any
 * message the edge admits by default (100,000 characters), and a bound on
 * what NFKD expansion can make of one (a ligature unfolds to 18 letters).
 */
const FOLD_ALL = 1 << 17;

function sigmoid(z: number): number {
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

function part(source: string, r: { z: number; reading?: string; piece?: string; more?: TopPiece[]; unread?: number }): ScoredPart {
  return {
    source,
    risk: sigmoid(r.z),
    ...(r.reading === undefined ? {} : { reading: r.reading }),
    ...(r.piece === undefined ? {} : { piece: r.piece }),
    ...(r.more?.length ? { pieces: r.more.map((p) => ({ text: p.text, risk: sigmoid(p.z) })) } : {}),
    ...(r.unread === undefined ? {} : { unread: sigmoid(r.unread) }),
  };
}

/** Text of a message's content (string or OpenAI content parts; non-text parts are ignored). */
export function messageText(m: ChatMessage): string {
  const c = m.content;
  if (typeof c === "string") return c;
  if (!Array.isArray(c)) return "";
  let s = "";
  for (const part of c) {
    const t = typeof part === "string" ? part : part && typeof part.text === "string" ? part.text : "";
    if (t) s += (s ? "\n" : "") + t;
  }
  return s;
}

/** When and how `RiskModel.logit` scores a long text's sentences too (artifact field `segments`). */
export interface SegmentRule {
  /** texts with fewer (folded) characters are scored whole only */
  minTextChars: number;
  /** a piece is scored alone when it has at least this many characters */
  minChars: number;
  /** at most this many pieces are scored alone */
  maxSegments: number;
}

/** Where a piece ending at `i` ends (a line break at i; . ! ? at i followed by white space: i + 1), else -1: the cut rule of sentenceCuts, pastLimits and windows. */
function pieceEnd(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c === 10 || c === 13) return i;
  if ((c === 46 || c === 33 || c === 63) && i + 1 < s.length) {
    const d = s.charCodeAt(i + 1);
    if (d === 32 || d === 10 || d === 13 || d === 9) return i + 1;
  }
  return -1;
}

/** Whether the text rule leaves part of `text` unread: longer than maxChars, or more scored pieces than maxSegments. */
export function pastLimits(text: string, maxChars: number, seg: SegmentRule): boolean {
  if (text.length < seg.minTextChars) return false;
  if (text.length > maxChars) return true;
  let start = 0;
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const end = pieceEnd(text, i);
    if (end < 0) continue;
    if (end - start >= seg.minChars && ++count > seg.maxSegments) return true;
    start = i + 1;
  }
  // The last piece, with no break after it, counts as sentenceCuts counts it.
  return start > 0 && text.length - start >= seg.minChars && count + 1 > seg.maxSegments;
}

/**
 * A long text as consecutive windows of whole pieces (sentences and lines),
 * each at most `maxChars` characters and `seg.maxSegments` scored pieces, so
 * that the text rule reads every character and scores every piece alone in
 * one of them. A piece longer than a window is cut into window-sized parts.
 * A last window shorter than `seg.minTextChars` (which the rule would score
 * only whole) reaches back into the one before it to that length.
 */
export function windows(text: string, maxChars: number, seg: SegmentRule): string[] {
  const out: string[] = [];
  let from = 0; // start of the current window
  let start = 0; // start of the current piece
  let count = 0; // scored pieces in the current window
  const close = (to: number) => {
    for (let a = from; a < to; a += maxChars) out.push(text.slice(a, Math.min(to, a + maxChars)));
    from = to;
    count = 0;
  };
  for (let i = 0; i < text.length; i++) {
    const end = pieceEnd(text, i);
    if (end < 0) continue;
    const scored = end - start >= seg.minChars;
    // The piece [start, i + 1) would overflow the window: close the window before it.
    if (i + 1 - from > maxChars || (scored && count >= seg.maxSegments)) {
      if (start > from) close(start);
    }
    if (scored) count++;
    start = i + 1;
  }
  // The last piece, with no break after it, counts as sentenceCuts counts it.
  const lastScored = start > 0 && text.length - start >= seg.minChars;
  if (start > from && (text.length - from > maxChars || (lastScored && count >= seg.maxSegments))) close(start);
  close(text.length);
  const last = out.length - 1;
  const reach = Math.min(seg.minTextChars, maxChars);
  if (last > 0 && out[last]!.length < reach) out[last] = text.slice(Math.max(0, text.length - reach));
  return out;
}

/**
 * The pieces of a folded text: cut after each line break and after . ! ?
 * followed by white space. Piece p is folded.slice(cuts[p], cuts[p + 1]);
 * scored[p] says whether it is scored on its own (its text, without the break,
 * has minChars or more, and fewer than maxSegments pieces came before it).
 * The training script cuts its long examples with the same function.
 */
export function sentenceCuts(folded: string, seg: SegmentRule): { cuts: number[]; scored: boolean[] } {
  const n = folded.length;
  const cuts = [0];
  const scored: boolean[] = [];
  let start = 0;
  let count = 0;
  for (let i = 0; i < n; i++) {
    const end = pieceEnd(folded, i);
    if (end < 0) continue;
    const ok = end - start >= seg.minChars && count < seg.maxSegments;
    if (ok) count++;
    scored.push(ok);
    cuts.push(i + 1);
    start = i + 1;
  }
  if (start < n) {
    scored.push(n - start >= seg.minChars && count < seg.maxSegments && start > 0);
    cuts.push(n);
  }
  return { cuts, scored };
}

/** Roles whose text the client writes and whose intent we judge. */
const CLIENT_ROLES = new Set(["user", "system", "developer"]);
/**
 * What joins a conversation's client turns into the one text that is also
 * scored. The trainers join a written conversation's turns with it, and
 * edge/risk's decidingText joins them alike for the second stage.
 */
export const TURN_SEPARATOR = "\n";

export class RiskModel {
  readonly threshold: number;
  /** The logit at `threshold`: a sentence past a long message's piece is handed over only if it scores this alone. */
  private readonly flagZ: number;
  readonly version: string;
  readonly featureConfig: FeatureConfig;
  private readonly bias: number;
  private readonly segments: SegmentRule | undefined;
  private readonly weights: Int16Array;
  private readonly weightScale: number;
  private readonly featurizer: Featurizer;
  private readonly vocab: Vocabulary | undefined;
  private readonly head: EmbeddingHead | undefined;
  /** head sums of the whole text and of the current piece */
  private readonly acc: Float64Array;
  private readonly pieceAcc: Float64Array;

  /** Whether `logit` also scores the text's decoded readings (readings.ts); on unless turned off (to measure what they do). */
  private readonly readings: boolean;
  /** Share of the words of the last text piecesLogit scored that the vocabulary knows (NaN: no vocabulary, or no word). */
  private knownShare = NaN;
  /** The highest-scoring pieces of the last text piecesLogit scored (at most TOP_KEPT, highest first), whether or not they beat the whole text. */
  private lastTopPieces: TopPiece[] = [];

  constructor(artifact: RiskArtifact, opts: { readings?: boolean } = {}) {
    this.readings = opts.readings !== false;
    if (artifact.format !== ARTIFACT_FORMAT) throw new Error(`not a prompt-risk artifact: format ${String(artifact.format)}`);
    if (!READABLE_FORMAT_VERSIONS.includes(artifact.formatVersion)) {
      throw new Error(
        `unsupported prompt-risk artifact formatVersion ${artifact.formatVersion} (this scorer reads ${READABLE_FORMAT_VERSIONS.join(" and ")}; retrain with npm run train:classifier)`,
      );
    }
    if (artifact.weightEncoding !== "int16le-base64") throw new Error(`unsupported weight encoding ${artifact.weightEncoding}`);
    this.featurizer = new Featurizer(artifact.features);
    this.featureConfig = artifact.features;
    const dim = artifact.features.dim;
    const bytes = decodeBase64(artifact.weights);
    if (bytes.length !== dim * 2) throw new Error(`weights hold ${bytes.length} bytes, expected ${dim * 2}`);
    // Kept as int16 (half the memory of float32, so more of it stays in cache);
    // the scale is applied once per text.
    const w = new Int16Array(dim);
    for (let i = 0, b = 0; i < dim; i++, b += 2) w[i] = (bytes[b] | (bytes[b + 1] << 8)) << 16 >> 16;
    this.weights = w;
    this.weightScale = artifact.weightScale;
    this.bias = artifact.bias;
    this.segments = artifact.segments;
    const emb = artifact.embedding;
    this.vocab = emb ? new Vocabulary(emb.wordHashes, emb.vocab) : undefined;
    this.head = emb ? new EmbeddingHead(emb) : undefined;
    this.acc = new Float64Array(this.head?.hidden ?? 0);
    this.pieceAcc = new Float64Array(this.head?.hidden ?? 0);
    this.threshold = artifact.threshold;
    this.flagZ = Math.log(this.threshold / (1 - this.threshold));
    this.version = artifact.modelVersion;
  }

  /** Builds a model from the artifact as parsed JSON, JSON text, or UTF-8 bytes of the JSON. */
  static fromArtifact(artifact: RiskArtifact | string | Uint8Array, opts: { readings?: boolean } = {}): RiskModel {
    if (typeof artifact === "string") return new RiskModel(JSON.parse(artifact) as RiskArtifact, opts);
    if (artifact instanceof Uint8Array) return new RiskModel(JSON.parse(new TextDecoder().decode(artifact)) as RiskArtifact, opts);
    return new RiskModel(artifact, opts);
  }

  /**
   * Logit of one text under the text rule:
   *
   *   logit(text) = max( vectorLogit(text), max over segments s: vectorLogit(s) )
   *
   * where segments are the text's lines and sentences (split at line breaks and
   * at . ! ? followed by white space) of at least `segments.minChars` characters,
   * when the artifact enables segments and the text has at least
   * `segments.minTextChars` characters (ordinary prompts are shorter and are
   * judged as a whole: their sentences alone lose the context). Why: the
   * features are normalised over the whole text, so a short harmful request inside a 3,000-character jailbreak
   * template contributes only a small share of the vector; scored on its own, the
   * request's sentence looks like the direct request it is. The text is
   * featurised once (see piecesLogit).
   *
   * And the highest over the text's decoded readings (readings.ts: base64,
   * spaced-out letters, leetspeak, ROT13, reversed text), each scored by the
   * same rule; an ordinary prompt has none.
   */
  logit(text: string): number {
    return this.readingLogit(text).z;
  }

  /**
   * `logit(text)`, and what the second stage should read beside the text:
   * `reading`, the decoded reading that scored highest; `piece`, the
   * riskiest sentence of a text longer than SECOND_STAGE_VIEW (or of the
   * window that decided); and of such a text, to be decided on their own,
   * `more`, its next riskiest sentences, and `unread`, the logit of the
   * riskiest sentence past those (see `handed`).
   *
   * Windows: the rule above reads at most `maxChars` characters (the head and
   * tail halves of a longer text) and scores at most `maxSegments` of its
   * sentences alone, so a request placed in the middle of a long text, or
   * after many sentences, would go unread. A text past either limit is also
   * scored window by window (consecutive sentences of the folded text, each
   * window within both limits; see `windows`), and the highest counts; the
   * second stage then also reads that window's riskiest sentence (its encoder
   * reads 128 tokens, and a window's would not hold the request). A text within them
   * scores exactly as before. The decoded readings are made of the text's
   * head and tail (READINGS_CHARS), not of each window: that keeps a 100 KB
   * input's cost to one pass over its windows and little more.
   */
  readingLogit(text: string): { z: number; reading?: string; piece?: string; more?: TopPiece[]; unread?: number } {
    const head = this.windowReadingLogit(text);
    const seg = this.segments;
    if (!seg || text.length < seg.minTextChars) return handed(head, this.flagZ);
    // Limits and windows on the text as the featurizer reads it (NFKD can turn a no-break space
    // into a space, a full-width stop into a stop, a ligature into three letters).
    const folded = foldText(text, FOLD_ALL);
    if (!pastLimits(folded, this.featureConfig.maxChars, seg)) return handed(head, this.flagZ);
    let best: { z: number; reading?: string; piece?: string } = head;
    // The riskiest sentences over every window, so that one window's cannot hide another's.
    let tops = head.tops;
    // A window seen before in this text scores the same (repetition is the cheap way to make a text long).
    const seen = new Set<string>();
    for (const w of windows(folded, this.featureConfig.maxChars, seg)) {
      if (seen.has(w)) continue;
      seen.add(w);
      const z = this.foldedRuleLogit(w);
      tops = keepTop(tops, this.lastTopPieces, TOP_KEPT);
      if (z > best.z) best = { z, piece: this.lastTopPieces[0]?.text ?? w };
    }
    return handed({ ...best, tops }, this.flagZ);
  }

  /**
   * The rule and the decoded readings for one text as the featurizer reads it (its first
   * maxChars / 2 and last maxChars / 2 characters); with `withPiece`, for a text longer than
   * the encoder reads whole, its riskiest sentences (`tops`).
   */
  private windowReadingLogit(text: string, withPiece = true): { z: number; reading?: string; piece?: string; tops: TopPiece[] } {
    let z = this.ruleLogit(text);
    // Not for the joined turns of a conversation (scoreConversation): its pieces are its messages, read already.
    const tops = withPiece && text.length > SECOND_STAGE_VIEW ? this.lastTopPieces : [];
    const plain = tops.length === 0 ? { z, tops } : { z, piece: tops[0]!.text, tops };
    if (!this.readings) return plain;
    const textKnown = this.knownShare;
    // ROT13 and reversed readings only for a text that does not mostly read already (see ENCODED_BELOW).
    // Of at most READINGS_CHARS characters (head and tail): an encoded request is short, and a
    // 100 KB input then costs one pass over its windows and little more.
    const readings = decodedReadings(text, READINGS_CHARS, { encoded: this.vocab !== undefined && textKnown < ENCODED_BELOW });
    if (readings.length === 0) return plain;
    let reading: string | undefined;
    const consider = (t: string, zt: number) => {
      if (zt > z) {
        z = zt;
        reading = t;
      }
    };
    for (const r of readings) {
      const zr = this.ruleLogit(r.text);
      if (r.kind !== "rot13" && r.kind !== "reversed") {
        consider(r.text, zr);
        continue;
      }
      // A text that merely speaks of ROT13 or of reversing reads as noise once decoded, and noise
      // scores near the prior, which can be above the threshold: such a reading (whole, or word by
      // word) counts only if the vocabulary knows more of its words than of the text's.
      if (this.knownShare > textKnown) consider(r.text, zr);
      const w = wordwise(r, this.rankOf);
      const zw = this.ruleLogit(w);
      if (this.knownShare > textKnown) consider(w, zw);
    }
    return reading === undefined ? plain : { ...plain, z, reading };
  }

  /** A word's frequency rank in the embedding vocabulary (-1: unknown). */
  private readonly rankOf = (word: string): number => this.vocab?.rowOf(wordHashOf(word)) ?? -1;

  /**
   * The text rule above for one text as the featurizer reads it (its head and
   * tail halves past maxChars; the first maxSegments scored pieces), without
   * decoded readings or windows.
   */
  ruleLogit(text: string): number {
    // Fold once (cap, surrogates, NFKD, lower case); segments are slices of the folded text.
    return this.foldedRuleLogit(foldText(text, this.featureConfig.maxChars));
  }

  /** `ruleLogit` of a text already folded and within maxChars (a window of a folded text). */
  private foldedRuleLogit(folded: string): number {
    const seg = this.segments;
    const n = folded.length;
    if (!seg || n < seg.minTextChars) return this.piecesLogit(folded, [0, n], 1, null);
    const { cuts, scored } = sentenceCuts(folded, seg);
    return this.piecesLogit(folded, cuts, cuts.length - 1, scored);
  }

  /**
   * max(logit of the whole text, logit of each scored piece), from one
   * featurising pass (Featurizer.indicesPieces). Both terms are sums over the
   * piece, so each piece's weight sum and head sums are computed once and also
   * added into the whole text's (plus the features that cross a cut).
   */
  private piecesLogit(folded: string, cuts: number[], pieces: number, scored: boolean[] | null): number {
    const f = this.featurizer.indicesPieces(folded, cuts, pieces);
    // No word at all (empty, white space, punctuation, emoji): no request to judge.
    this.knownShare = NaN;
    this.lastTopPieces = [];
    if (f.wordEnd[pieces - 1] === 0) return NO_EVIDENCE;
    const { vocab, head, acc, pieceAcc } = this;
    const alone = pieces > 1 ? scored : null;
    // Embedding head: vocabulary rows of all words, once.
    const nWords = f.wordEnd[pieces - 1];
    const rows = vocab ? vocab.rowsOf(f.words, nWords) : f.words;
    if (vocab) {
      let known = 0;
      for (let i = 0; i < nWords; i++) if (rows[i] >= 0) known++;
      this.knownShare = known / nWords;
    }
    if (head) acc.fill(0);
    let wsum = 0;
    let dot = 0;
    let best = -Infinity;
    // the TOP_KEPT highest-scoring pieces (index, logit), highest first
    const top: { p: number; z: number }[] = [];
    let from = 0;
    let wordFrom = 0;
    for (let p = 0; p < pieces; p++) {
      const to = f.idxEnd[p];
      const wordTo = f.wordEnd[p];
      const d = this.dot(f.idx, from, to);
      dot += d;
      let ws = 0;
      if (head) {
        pieceAcc.fill(0);
        ws = head.accumulate(rows, wordFrom, wordTo, pieceAcc);
        for (let j = 0; j < acc.length; j++) acc[j] += pieceAcc[j];
        wsum += ws;
      }
      if (alone !== null && alone[p]) {
        let zp = this.bias + this.sparseTerm(d, to - from);
        if (head) zp += head.finish(pieceAcc, ws);
        if (zp > best) best = zp;
        // (a repeated sentence scores the same: it is kept once, so that copies cannot crowd out the others)
        if ((top.length < TOP_KEPT || zp > top[top.length - 1]!.z) && !top.some((t) => t.z === zp && pieceText(folded, cuts, t.p) === pieceText(folded, cuts, p))) {
          let k = top.length < TOP_KEPT ? top.length : TOP_KEPT - 1;
          while (k > 0 && top[k - 1]!.z < zp) k--;
          top.splice(k, 0, { p, z: zp });
          top.length = Math.min(top.length, TOP_KEPT);
        }
      }
      from = to;
      wordFrom = wordTo;
    }
    dot += this.dot(f.cross, 0, f.cross.length);
    let z = this.bias + this.sparseTerm(dot, from + f.cross.length);
    if (head) z += head.finish(acc, wsum);
    this.lastTopPieces = top.map(({ p, z: zp }) => ({ text: pieceText(folded, cuts, p), z: zp }));
    return z > best ? z : best;
  }

  /** Sum of the (quantised) weights of the feature occurrences idx[from..to). */
  private dot(idx: Int32Array, from: number, to: number): number {
    const w = this.weights;
    let d = 0;
    for (let i = from; i < to; i++) d += w[idx[i]];
    return d;
  }

  /** The n-gram term w . counts / sqrt(n) of a text with n feature occurrences (see `vectorize`). */
  private sparseTerm(dot: number, n: number): number {
    return n > 0 ? (this.weightScale * dot) / Math.sqrt(n) : 0;
  }

  /** Logit of the whole text as one vector (no segments). */
  vectorLogit(text: string): number {
    const folded = foldText(text, this.featureConfig.maxChars);
    return this.piecesLogit(folded, [0, folded.length], 1, null);
  }

  /** Risk in [0, 1] of one prompt. */
  scoreText(text: string): number {
    return sigmoid(this.logit(text));
  }

  /**
   * Risk of a whole conversation. The rule:
   *
   *   risk = max( score(each client-authored message on its own),
   *               score(all client-authored messages joined in order) )
   *
   * where client-authored means the `user`, `system` and `developer` roles: in an
   * OpenAI-compatible API the caller writes all three, so all three can carry an
   * attack (jailbreak templates are often placed in the system prompt).
   * - Each message on its own: a harmful request anywhere in the conversation
   *   keeps it risky; the model still reads that request when it generates, and
   *   a harmful turn must not be diluted by long harmless turns around it.
   * - All client messages joined: multi-turn attacks (crescendo, coreference
   *   attacks such as CoSafe's "...can you give me an example of it?") spread
   *   the intent over several turns that each look harmless alone.
   * - Assistant (and tool) messages are left out: a model's refusal or safety
   *   lecture repeats the harmful words and would flag harmless follow-ups. A
   *   fabricated assistant turn that starts a harmful answer, then "continue",
   *   passes this way; the edge's opt-in classifier.assistant_turns
   *   "unserved" hands such turns in as client turns (edge/risk/served.ts).
   * The cost is linear in the conversation's length (each client message is
   * featurised twice).
   */
  scoreConversation(messages: readonly ChatMessage[]): ConversationRiskResult {
    let best = -Infinity;
    let top: ScoredPart | undefined; // the part with the highest logit: it names the source, reading and piece
    const parts: string[] = [];
    const scored: ScoredPart[] = [];
    const score = (source: string, r: Parameters<typeof part>[1]) => {
      scored.push(part(source, r));
      if (r.z > best) {
        best = r.z;
        top = scored[scored.length - 1];
      }
    };
    let lastUser = -1;
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i];
      if (!m || !CLIENT_ROLES.has(m.role)) continue;
      const text = messageText(m);
      if (!text) continue;
      parts.push(text);
      if (m.role === "user") lastUser = i;
      score(`turn:${i}`, this.readingLogit(text));
    }
    if (parts.length > 1) {
      // Each message is read whole above; the joined text as the rule reads it (head and tail), so that
      // a conversation's cost grows with its messages, not with their square.
      const r = this.windowReadingLogit(parts.join(TURN_SEPARATOR), false);
      score("joined", { z: r.z, reading: r.reading });
    }
    const source = top === undefined ? "empty" : top.source === `turn:${lastUser}` ? "last" : top.source;
    const risk = sigmoid(best);
    const { reading, piece } = top ?? {};
    return { risk, risky: risk >= this.threshold, source, ...(reading === undefined ? {} : { reading }), ...(piece === undefined ? {} : { piece }), parts: scored };
  }

  /** Classifies a prompt string or a conversation at the shipped threshold. */
  classify(input: string | readonly ChatMessage[]): RiskResult {
    if (typeof input === "string") {
      const risk = this.scoreText(input);
      return { risk, risky: risk >= this.threshold };
    }
    const r = this.scoreConversation(input);
    return { risk: r.risk, risky: r.risky };
  }
}
