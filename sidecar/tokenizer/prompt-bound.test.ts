import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SHARED_MODELS } from "../../test/support/models.ts";
import { HfTokenizer, type TokenizerJson } from "./hf.ts";
import { Llama2cTokenizer, parseLlama2cVocab } from "./llama2c.ts";
import { nonWhitespaceBytes, normalizerShrink, PromptBound, PromptTooLongError, tokenizerJsonShrink } from "./prompt-bound.ts";
import type { Tokenizer } from "./types.ts";

function llama2c(): Llama2cTokenizer {
  return new Llama2cTokenizer(parseLlama2cVocab(readFileSync(join(SHARED_MODELS, "stories260K/tok512.bin")), 512));
}

function hf(): HfTokenizer {
  const dir = join(SHARED_MODELS, "stories260K-hf");
  const json = JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8")) as TokenizerJson;
  const config = JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8"));
  return new HfTokenizer(json, config);
}

/** Deterministic pseudo-random texts mixing the vocabulary's longest pieces, words, spaces, CJK, emoji and control characters. */
function texts(tok: Tokenizer, n: number): string[] {
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const pieces: string[] = [];
  for (let id = 0; id < tok.vocabSize; id++) if (!tok.isSpecial(id)) pieces.push(new TextDecoder().decode(tok.tokenBytes(id)));
  pieces.sort((a, b) => b.length - a.length);
  const atoms = [...pieces.slice(0, 40), " ", "  ", "\n", "\t", "Once upon a time", "猫", "😀", "é", "\u0301", "▁", "<s>", "</s>", "\x1c", "\u00a0"];
  return Array.from({ length: n }, () => {
    let s = "";
    const len = 1 + Math.floor(rand() * 120);
    for (let i = 0; i < len; i++) s += atoms[Math.floor(rand() * atoms.length)];
    return s;
  });
}

describe("nonWhitespaceBytes", () => {
  it("counts UTF-8 bytes of everything but whitespace (JavaScript's and Python's)", () => {
    expect(nonWhitespaceBytes("abc")).toBe(3);
    expect(nonWhitespaceBytes(" a \t\n\r\v\f b ")).toBe(2);
    expect(nonWhitespaceBytes("é猫😀")).toBe(2 + 3 + 4);
    expect(nonWhitespaceBytes("\u00a0\u2003\u3000\ufeff\u2028\x1c\x1f\x85")).toBe(0);
    expect(nonWhitespaceBytes("x".repeat(1000))).toBe(1000);
    const sample = "Ünïcödé text, 中文 and emoji 🎉🎉";
    expect(nonWhitespaceBytes(sample)).toBe(new TextEncoder().encode(sample.replace(/\s/g, "")).length);
  });
});

describe("normalizer and tokenizer.json shrink", () => {
  it("bounds the known normalizers and refuses the lossy ones", () => {
    expect(normalizerShrink(null)).toBe(1);
    expect(normalizerShrink({ type: "Sequence", normalizers: [{ type: "Prepend" }, { type: "Replace", pattern: { String: " " }, content: "▁" }] })).toBe(1);
    expect(normalizerShrink({ type: "NFKC" })).toBe(4);
    expect(normalizerShrink({ type: "Sequence", normalizers: [{ type: "NFKC" }, { type: "Lowercase" }] })).toBe(12);
    expect(normalizerShrink({ type: "Replace", pattern: { String: "abcd" }, content: "x" })).toBe(4);
    expect(normalizerShrink({ type: "Replace", pattern: { Regex: "a+" }, content: "a" })).toBeNull();
    expect(normalizerShrink({ type: "Replace", pattern: { String: "a" }, content: "" })).toBeNull();
    expect(normalizerShrink({ type: "StripAccents" })).toBeNull();
  });

  it("is off for a BPE without byte fallback (unknown text becomes one unk) and on for byte-level BPE", () => {
    expect(tokenizerJsonShrink({ model: { type: "BPE", byte_fallback: false } })).toBeNull();
    expect(tokenizerJsonShrink({ model: { type: "Unigram" } })).toBeNull();
    expect(tokenizerJsonShrink({ model: { type: "BPE" }, pre_tokenizer: { type: "ByteLevel" }, normalizer: { type: "NFC" } })).toBe(4);
    expect(tokenizerJsonShrink({ model: { type: "BPE", byte_fallback: true }, pre_tokenizer: { type: "Split", behavior: "Removed" } })).toBeNull();
  });
});

describe.each([
  ["llama2.c", llama2c],
  ["Hugging Face", hf],
])("PromptBound on stories260K (%s tokenizer)", (_name, make) => {
  const tok = make();

  it("never claims more tokens than the text really encodes to", () => {
    const bound = new PromptBound(tok, 512);
    expect(bound.bytesPerToken).not.toBeNull();
    for (const text of texts(tok, 300)) {
      expect(bound.minTokens(text)).toBeLessThanOrEqual(tok.encode(text).length);
    }
  });

  it("rejects a text the bound puts at the context, and passes one that fits", () => {
    const bound = new PromptBound(tok, 512);
    const perToken = bound.bytesPerToken!;
    const tooLong = "x".repeat(perToken * 512);
    expect(() => bound.check(tooLong)).toThrow(PromptTooLongError);
    // Whatever the bound rejects really does not fit.
    expect(tok.encode(tooLong).length).toBeGreaterThanOrEqual(512);
    expect(() => bound.check("x".repeat(perToken * 511))).not.toThrow();
    // Whitespace is not counted: a megabyte of spaces is left to the tokenizer.
    expect(() => bound.check(" ".repeat(1_000_000))).not.toThrow();
    expect(() => bound.check("word ".repeat(100_000))).toThrow(/400000 bytes of text .* at least \d+ tokens, and the model's context is 512 tokens/);
  });
});

describe("PromptBound without a bound", () => {
  it("checks nothing for a tokenizer that does not describe its coverage", () => {
    const tok = { specialTokens: new Map() } as unknown as Tokenizer;
    const bound = new PromptBound(tok, 16);
    expect(bound.bytesPerToken).toBeNull();
    expect(() => bound.check("x".repeat(100_000))).not.toThrow();
  });
});
