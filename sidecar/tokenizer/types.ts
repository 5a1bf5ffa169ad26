/**
 * The common tokenizer contract used by the engine, the CLI and the chat path.
 *
 * Decoding conventions (shared by every implementation, see bytes.ts):
 * - `tokenBytes(id)` is what the token contributes to the output byte stream:
 *   byte-fallback tokens (`<0xE2>`) give that one byte, special tokens (BOS,
 *   EOS, unk, ...) give no bytes, every other token its UTF-8 text.
 * - When `stripSpaceAfterBos` is set (sentencepiece-style vocabularies with a
 *   dummy prefix), a token directly after BOS loses one leading space, as
 *   llama2.c's `decode(prev_token, token)` does. Byte-fallback tokens are
 *   never stripped.
 * - `decode(ids)` is the concatenation of those bytes read as UTF-8, so a
 *   streaming decoder fed the same ids produces exactly the same text.
 */
export interface EncodeOptions {
  /** Prepend the BOS id. Default: the tokenizer's own setting (`addBos`). */
  addBos?: boolean;
  /**
   * Recognise special-token strings (`<s>`, `</s>`, `<|im_start|>`, ...) in the
   * text and emit their ids. Default false: all text is ordinary text, so
   * user input can never forge a control token.
   */
  parseSpecial?: boolean;
}

/** One piece of an already segmented input: text, or a token id. */
export type EncodePart = string | number;

export interface Tokenizer {
  readonly kind: TokenizerKind;
  /** -1 when the vocabulary has no BOS token (then addBos is false). */
  readonly bosId: number;
  readonly eosId: number;
  readonly vocabSize: number;
  /** Whether encode() adds BOS when the caller does not say. */
  readonly addBos: boolean;
  /** See the header comment: strip one leading space of the token after BOS. */
  readonly stripSpaceAfterBos: boolean;
  /** Special-token strings a template may emit, mapped to their ids. */
  readonly specialTokens: ReadonlyMap<string, number>;

  encode(text: string, options?: EncodeOptions): number[];
  /**
   * Encode a sequence of text parts and ids. Text parts are ordinary text
   * (no special-token recognition) encoded one by one, as a tokenizer does
   * between special tokens; ids are copied. BOS is added per `addBos`
   * unless the first part already is the BOS id.
   */
  encodeParts(parts: readonly EncodePart[], options?: { addBos?: boolean }): number[];
  decode(ids: readonly number[]): string;
  /** Raw bytes the token contributes to the output (empty for special tokens). */
  tokenBytes(id: number): Uint8Array;
  /** Display form of a token: its piece with spaces as spaces, `<0xE2>` for byte tokens, `<s>` for BOS. */
  tokenText(id: number): string;
  isSpecial(id: number): boolean;
}

export type TokenizerKind = "llama2c" | "hf";

/** What the model manifest says about the tokenizer (written by the model builder). */
export interface TokenizerSpec {
  kind: TokenizerKind;
  /** File name relative to the model directory: `tok512.bin` or `tokenizer.json`. */
  file: string;
  bosId: number;
  eosId: number;
  addBos: boolean;
  /** llama2c only: the model's vocab size (the .bin has no count of its own). hf: optional check. */
  vocabSize?: number;
  /** hf only: the tokenizer_config.json file name (default `tokenizer_config.json` beside `file`). */
  configFile?: string;
}
