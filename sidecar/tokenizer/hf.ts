/**
 * Hugging Face tokenizers (tokenizer.json + tokenizer_config.json) through
 * @huggingface/tokenizers, behind the common Tokenizer interface.
 *
 * Plain text never yields special tokens: the text is encoded by a tokenizer
 * instance built without the special added tokens (Hugging Face's
 * `split_special_tokens=True`), so "<s>" in user input is three characters,
 * not BOS. Special tokens come in only as ids (encodeParts) or, on request,
 * by `parseSpecial` (the text is split at special-token strings first).
 * Non-special added tokens stay recognised, as in Hugging Face.
 *
 * Segments between special tokens are encoded one by one; a Metaspace
 * pre-tokenizer with prepend_scheme "first" prepends only to the first
 * segment, as tokenizers.js does.
 */
import { readFile } from "node:fs/promises";
import { Tokenizer as HfLibTokenizer } from "@huggingface/tokenizers";
import { byteFallbackValue, checkId, decodeIds, EMPTY_BYTES, utf8 } from "./bytes.ts";
import { pieceDecoder, type DecoderJson, type PieceDecoder } from "./hf-pieces.ts";
import { tokenizerJsonShrink } from "./prompt-bound.ts";
import { splitSpecial } from "./special-split.ts";
import { encodeWordByWord } from "./word-split.ts";
import type { EncodeOptions, EncodePart, Tokenizer } from "./types.ts";

interface AddedTokenJson {
  id: number;
  content: string;
  special?: boolean;
  lstrip?: boolean;
  rstrip?: boolean;
}

/** The parts of tokenizer.json read here; the library reads the rest. */
export interface TokenizerJson {
  added_tokens?: AddedTokenJson[];
  model: { vocab?: Record<string, number> | Array<[string, number]> };
  decoder?: DecoderJson | null;
  pre_tokenizer?: { type: string; prepend_scheme?: string; pretokenizers?: unknown[] } | null;
  [key: string]: unknown;
}

/** tokenizer_config.json; token fields may be strings or {content} objects. */
export interface TokenizerConfigJson {
  bos_token?: string | { content: string } | null;
  eos_token?: string | { content: string } | null;
  add_bos_token?: boolean;
  chat_template?: string | Array<{ name: string; template: string }>;
  [key: string]: unknown;
}

const textDecoder = new TextDecoder();

/** bosId of a tokenizer without a BOS token (e.g. Qwen2's config has bos_token null). */
export const NO_TOKEN = -1;

export interface HfOptions {
  bosId?: number;
  eosId?: number;
  addBos?: boolean;
  /**
   * The model's vocab size when its embedding is padded past the tokenizer's
   * ids (Qwen2: 151,936 rows for 151,665 tokens). The extra ids, like holes
   * in the vocabulary, count as special: no bytes, never produced by encode.
   */
  vocabSize?: number;
  /** Encode sentencepiece-style text word by word where that gives the same tokens (word-split.ts; default true). */
  wordByWord?: boolean;
}

export class HfTokenizer implements Tokenizer {
  readonly kind = "hf" as const;
  readonly bosId: number;
  readonly eosId: number;
  readonly vocabSize: number;
  readonly addBos: boolean;
  readonly stripSpaceAfterBos: boolean;
  readonly specialTokens: ReadonlyMap<string, number>;
  readonly config: TokenizerConfigJson;
  private readonly first: HfLibTokenizer;
  private readonly rest: HfLibTokenizer;
  private readonly pieces: string[] = [];
  private readonly special = new Set<number>();
  private readonly lstrip = new Set<number>();
  private readonly rstrip = new Set<number>();
  private readonly addedIds: ReadonlySet<number>;
  private readonly decoder: PieceDecoder;
  /** Filled on first use: building them for a 150k vocabulary up front costs about a second. */
  private readonly bytes: Array<Uint8Array | undefined> = [];
  private readonly texts: Array<string | undefined> = [];
  /**
   * For the prompt length check (prompt-bound.ts): how many times fewer bytes
   * the normalizer can leave of non-whitespace text; null when text can be
   * lost (then there is no cheap check).
   */
  readonly textShrink: number | null;
  /** Whether the BPE model encodes word by word (word-split.ts). */
  readonly wordByWord: boolean;
  private longest: number | undefined;

  constructor(json: TokenizerJson, config: TokenizerConfigJson, options: HfOptions = {}) {
    this.config = config;
    this.textShrink = tokenizerJsonShrink(json);
    const added = json.added_tokens ?? [];
    const specials = new Map<string, number>();
    for (const t of added) {
      if (t.special) {
        specials.set(t.content, t.id);
        this.special.add(t.id);
        if (t.lstrip) this.lstrip.add(t.id);
        if (t.rstrip) this.rstrip.add(t.id);
      }
    }
    this.specialTokens = specials;

    const plain = { ...json, added_tokens: added.filter((t) => !t.special) };
    this.first = new HfLibTokenizer(plain, config);
    const restPre = withoutFirstPrepend(json.pre_tokenizer);
    this.rest = restPre === json.pre_tokenizer ? this.first : new HfLibTokenizer({ ...plain, pre_tokenizer: restPre }, config);
    const wordByWord = options.wordByWord ?? true;
    this.wordByWord = wordByWord && encodeWordByWord(this.first);
    if (wordByWord && this.rest !== this.first) encodeWordByWord(this.rest);

    for (const [piece, id] of vocabEntries(json)) this.pieces[id] = piece;
    for (const t of added) this.pieces[t.id] = t.content;
    this.vocabSize = Math.max(this.pieces.length, options.vocabSize ?? 0);

    this.addedIds = new Set(added.map((t) => t.id));
    for (let id = 0; id < this.vocabSize; id++) if (this.pieces[id] === undefined) this.special.add(id); // holes, padding
    this.decoder = pieceDecoder(json.decoder);
    this.stripSpaceAfterBos = this.decoder.stripSpaceAfterBos;

    this.bosId = options.bosId ?? this.idOf(config.bos_token, "bos_token", true);
    this.eosId = options.eosId ?? this.idOf(config.eos_token, "eos_token", false);
    const addBos = options.addBos ?? config.add_bos_token ?? this.postProcessorAddsBos(json, config);
    this.addBos = addBos && this.bosId >= 0;
  }

  static async fromFiles(tokenizerPath: string, configPath: string | undefined, options: HfOptions = {}): Promise<HfTokenizer> {
    const json = JSON.parse(await readFile(tokenizerPath, "utf8")) as TokenizerJson;
    const config = configPath ? (JSON.parse(await readFile(configPath, "utf8")) as TokenizerConfigJson) : {};
    return new HfTokenizer(json, config, options);
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    const parts = options.parseSpecial ? splitSpecial(text, this.specialTokens) : [text];
    return this.encodeParts(parts, { addBos: options.addBos });
  }

  encodeParts(parts: readonly EncodePart[], options: { addBos?: boolean } = {}): number[] {
    const out: number[] = [];
    if ((options.addBos ?? this.addBos) && this.bosId !== NO_TOKEN && parts[0] !== this.bosId) out.push(this.bosId);
    parts.forEach((part, i) => {
      if (typeof part === "number") {
        checkId(part, this.vocabSize);
        out.push(part);
        return;
      }
      // Added tokens with lstrip/rstrip eat the whitespace beside them (e.g. Phi-3's "<|end|>\n").
      let text = part;
      if (this.rstrip.has(parts[i - 1] as number)) text = text.trimStart();
      if (this.lstrip.has(parts[i + 1] as number)) text = text.trimEnd();
      if (text.length > 0) {
        const lib = i === 0 ? this.first : this.rest;
        for (const id of lib.encode(text, { add_special_tokens: false }).ids) out.push(id); // no spread: 300k ids overflow the stack
      }
    });
    return out;
  }

  decode(ids: readonly number[]): string {
    return decodeIds(this, ids);
  }

  tokenBytes(id: number): Uint8Array {
    checkId(id, this.vocabSize);
    let b = this.bytes[id];
    if (b === undefined) {
      const piece = this.pieces[id]!;
      b = this.special.has(id) ? EMPTY_BYTES : this.addedIds.has(id) ? utf8(piece) : this.decoder.bytes(piece);
      this.bytes[id] = b;
    }
    return b;
  }

  tokenText(id: number): string {
    checkId(id, this.vocabSize);
    let t = this.texts[id];
    if (t === undefined) {
      const piece = this.pieces[id] ?? "";
      const raw = this.special.has(id) || byteFallbackValue(piece) !== undefined;
      t = raw ? piece : textDecoder.decode(this.tokenBytes(id));
      this.texts[id] = t;
    }
    return t;
  }

  isSpecial(id: number): boolean {
    return this.special.has(id);
  }

  /** The most UTF-8 bytes of normalized text one token covers: the longest piece as written (prompt-bound.ts). */
  maxTokenBytes(): number {
    this.longest ??= this.pieces.reduce((m, p) => Math.max(m, p === undefined ? 0 : utf8(p).length), 1);
    return this.longest;
  }

  /** The chat template from tokenizer_config.json (the default one when several are named). */
  chatTemplate(): string | undefined {
    const t = this.config.chat_template;
    if (typeof t === "string" || t === undefined) return t;
    return t.find((x) => x.name === "default")?.template ?? t[0]?.template;
  }

  /** The special-token string for an id, for a chat template's bos_token / eos_token. */
  tokenString(id: number): string {
    checkId(id, this.vocabSize);
    return this.pieces[id] ?? "";
  }

  /** The id of a config token field; a missing BOS (Qwen-style) is -1, a missing EOS an error. */
  private idOf(token: TokenizerConfigJson["bos_token"], field: string, optional: boolean): number {
    const content = typeof token === "string" ? token : token?.content;
    if (content === undefined && optional) return NO_TOKEN;
    const id = content === undefined ? -1 : (this.specialTokens.get(content) ?? this.pieces.indexOf(content));
    if (id < 0) throw new Error(`tokenizer_config.json: ${field} ${content === undefined ? "missing" : `"${content}" not in the vocabulary`}; pass it explicitly`);
    return id;
  }

  /** Without add_bos_token in the config, ask the library whether its post-processor adds BOS. */
  private postProcessorAddsBos(json: TokenizerJson, config: TokenizerConfigJson): boolean {
    if (this.bosId === NO_TOKEN) return false;
    const full = new HfLibTokenizer(json, config);
    return full.encode("a", { add_special_tokens: true }).ids[0] === this.bosId;
  }
}

function vocabEntries(json: TokenizerJson): Array<[string, number]> {
  const v = json.model.vocab ?? {};
  // Unigram models store [piece, score] pairs: the id is the index.
  if (Array.isArray(v)) return v.map(([piece], id) => [piece, id]);
  return Object.entries(v);
}

/** The pre-tokenizer config for segments after the first: Metaspace "first" prepends nothing there. */
function withoutFirstPrepend(pre: TokenizerJson["pre_tokenizer"]): TokenizerJson["pre_tokenizer"] {
  if (!pre) return pre;
  if (pre.type === "Metaspace" && pre.prepend_scheme === "first") return { ...pre, prepend_scheme: "never" };
  if (pre.type === "Sequence" && Array.isArray(pre.pretokenizers)) {
    const inner = pre.pretokenizers.map((p) => withoutFirstPrepend(p as TokenizerJson["pre_tokenizer"]));
    return inner.every((p, i) => p === pre.pretokenizers![i]) ? pre : { ...pre, pretokenizers: inner };
  }
  return pre;
}
