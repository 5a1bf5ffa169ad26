/**
 * A cheap length check that rejects a prompt which cannot fit the model's
 * context before it is tokenized (issue 14, fault 1): one pass over the
 * characters instead of a BPE run over a 300 KB prompt.
 *
 * Why it never rejects a prompt that fits. It needs a LOWER bound on the
 * number of tokens a text encodes to:
 *
 *   tokens >= counted / (shrink x perToken)
 *
 * - `counted` is the UTF-8 bytes of the text's non-whitespace characters.
 *   Whitespace is left out because it can vanish before the tokenizer sees
 *   it: chat templates `| trim` contents, added tokens with lstrip / rstrip
 *   eat the whitespace beside them, some pre-tokenizers drop it. (Both
 *   JavaScript's and Python's whitespace count as whitespace here.)
 * - `shrink` is how many times fewer bytes the tokenizer's normalizer can
 *   leave of the non-whitespace text: 1 for llama2.c (its encoder covers the
 *   text byte for byte, byte fallback for what its vocabulary lacks); for
 *   Hugging Face tokenizers the product over the normalizers (NFC / NFKC at
 *   most 4, e.g. U+1D400 MATHEMATICAL BOLD A, 4 bytes, becomes "A"; Lowercase
 *   3, e.g. U+212A KELVIN SIGN becomes "k"; a Replace of a string by a shorter
 *   one their ratio). A tokenizer that
 *   can drop non-whitespace text or turn a run of it into one token (an unk
 *   token without byte fallback, StripAccents, a regex Replace, a Split that
 *   removes its matches) has no such bound: the check is off for it.
 * - `perToken` is the most bytes of that text one token can cover: the
 *   longest vocabulary piece or added token as written, in UTF-8 bytes ("▁the"
 *   is 6; a byte-fallback token covers one byte; a byte-level piece has one
 *   character per byte), and the longest special-token string (a chat
 *   template writes those as text that becomes one id each).
 *
 * A prompt is rejected when that bound reaches the context, where the engine
 * would reject its token ids anyway (a prompt needs at least one position
 * left to generate into).
 */
import type { Tokenizer } from "./types.ts";

/** What a tokenizer tells the bound (HfTokenizer and Llama2cTokenizer implement it). */
export interface TokenCoverage {
  /** Most UTF-8 bytes of normalized text one token covers. */
  maxTokenBytes(): number;
  /** How many times fewer bytes normalization can leave of non-whitespace text; null: unbounded. */
  readonly textShrink: number | null;
}

export class PromptTooLongError extends Error {
  override name = "PromptTooLongError";
  constructor(
    readonly bytes: number,
    readonly minTokens: number,
    readonly contextLength: number,
  ) {
    super(
      `prompt is too long: ${bytes} bytes of text (whitespace not counted) make at least ${minTokens} tokens, ` +
        `and the model's context is ${contextLength} tokens (rejected before tokenizing)`,
    );
  }
}

/** UTF-8 bytes of the characters that are not whitespace (JavaScript's `\s`, plus Python's \x1c-\x1f and U+0085). */
export function nonWhitespaceBytes(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) {
      if (c !== 0x20 && (c < 0x09 || c > 0x0d) && (c < 0x1c || c > 0x1f)) n += 1;
    } else if (c < 0x800) {
      if (c !== 0x85 && c !== 0xa0) n += 2;
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      n += 1; // a lone surrogate: counted low, whatever a tokenizer makes of it
    } else if (!(c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff)) {
      n += 3;
    }
  }
  return n;
}

const encoder = new TextEncoder();

/** The check for one tokenizer and context; `check(text)` throws PromptTooLongError. */
export class PromptBound {
  /** Bytes of counted text per token at most (shrink x perToken); null: no bound, check off. */
  readonly bytesPerToken: number | null;

  constructor(
    tok: Tokenizer,
    readonly contextLength: number,
  ) {
    const coverage = tok as Partial<TokenCoverage> & Tokenizer;
    const shrink = typeof coverage.maxTokenBytes === "function" ? (coverage.textShrink ?? null) : null;
    if (shrink === null) {
      this.bytesPerToken = null;
      return;
    }
    let perToken = Math.max(1, coverage.maxTokenBytes!());
    for (const s of tok.specialTokens.keys()) perToken = Math.max(perToken, encoder.encode(s).length);
    this.bytesPerToken = shrink * perToken;
  }

  /** The fewest tokens `text` can encode to (0 when the check is off). */
  minTokens(text: string): number {
    return this.bytesPerToken === null ? 0 : Math.ceil(nonWhitespaceBytes(text) / this.bytesPerToken);
  }

  check(text: string): void {
    if (this.bytesPerToken === null) return;
    const bytes = nonWhitespaceBytes(text);
    const minTokens = Math.ceil(bytes / this.bytesPerToken);
    if (minTokens >= this.contextLength) throw new PromptTooLongError(bytes, minTokens, this.contextLength);
  }
}

interface NormalizerJson {
  type?: string;
  normalizers?: NormalizerJson[];
  pattern?: { String?: string; Regex?: string };
  content?: string;
}

/** shrink of a Hugging Face normalizer config (see the header), null when it has none. */
export function normalizerShrink(n: NormalizerJson | null | undefined): number | null {
  if (!n) return 1;
  switch (n.type) {
    case "Sequence": {
      let f = 1;
      for (const inner of n.normalizers ?? []) {
        const g = normalizerShrink(inner);
        if (g === null) return null;
        f *= g;
      }
      return f;
    }
    case "NFD":
    case "NFKD":
    case "Prepend":
    case "Strip": // whitespace only
      return 1;
    case "NFC":
    case "NFKC":
      return 4;
    case "Lowercase":
      return 3;
    case "Replace": {
      const from = n.pattern?.String;
      if (from === undefined || from.length === 0) return null; // a regex can match anything
      const a = encoder.encode(from).length;
      const b = encoder.encode(n.content ?? "").length;
      if (b === 0) return nonWhitespaceBytes(from) === 0 ? 1 : null;
      return Math.max(1, a / b);
    }
    default:
      return null;
  }
}

interface PreTokenizerJson {
  type?: string;
  pretokenizers?: PreTokenizerJson[];
  behavior?: string;
  delimiter?: string;
}

/** Whether a pre-tokenizer keeps every non-whitespace character. */
export function preTokenizerKeepsText(p: PreTokenizerJson | null | undefined): boolean {
  if (!p) return true;
  switch (p.type) {
    case "Sequence":
      return (p.pretokenizers ?? []).every(preTokenizerKeepsText);
    case "Metaspace":
    case "ByteLevel":
    case "Digits":
    case "Punctuation":
    case "UnicodeScripts":
    case "Whitespace":
    case "WhitespaceSplit":
    case "BertPreTokenizer":
      return true;
    case "Split":
      return p.behavior !== "Removed";
    case "CharDelimiterSplit":
      return p.delimiter !== undefined && nonWhitespaceBytes(p.delimiter) === 0;
    default:
      return false;
  }
}

interface ModelJson {
  type?: string;
  byte_fallback?: boolean;
}

/**
 * shrink of a tokenizer.json: null when text can be lost (no byte fallback
 * and no byte-level alphabet, so unknown text becomes unk; a lossy normalizer
 * or pre-tokenizer). Token coverage is measured on the vocabulary's pieces as
 * written ("▁the" is 6 bytes; a byte-level piece has one character per byte),
 * so Metaspace's "▁" and the byte-level alphabet need no factor of their own.
 */
export function tokenizerJsonShrink(json: { normalizer?: unknown; pre_tokenizer?: unknown; model?: unknown }): number | null {
  const model = (json.model ?? {}) as ModelJson;
  const pre = json.pre_tokenizer as PreTokenizerJson | null | undefined;
  const byteLevel = JSON.stringify(pre ?? null).includes('"ByteLevel"');
  if (model.type !== "BPE" || !(model.byte_fallback === true || byteLevel)) return null;
  if (!preTokenizerKeepsText(pre)) return null;
  return normalizerShrink(json.normalizer as NormalizerJson | null | undefined);
}
