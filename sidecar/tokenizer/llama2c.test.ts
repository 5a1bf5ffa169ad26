import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { mulberry32 } from "../model/random-model.ts";
import { Llama2cTokenizer, parseLlama2cVocab, type Llama2cVocab } from "./llama2c.ts";
import { loadTok512, ORGANISM, STORIES, TEXTS } from "./test-fixtures.ts";

/**
 * run.c's encode() as written there, with string lookups: the dummy prefix, each code point's UTF-8
 * bytes looked up (byte fallback: byte + 3), then the best-scoring adjacent pair whose concatenated
 * bytes are a piece (the lowest id with those bytes; the first pair on ties) merged until none is. O(n^2).
 */
function runcEncode(vocab: Llama2cVocab, text: string): number[] {
  const lookup = new Map<string, number>();
  vocab.pieces.forEach((p, id) => lookup.has(p) || lookup.set(p, id));
  const t = [lookup.get(" ")!];
  for (const ch of text) {
    const bytes = Buffer.from(ch, "utf8");
    const id = lookup.get(bytes.toString("latin1"));
    t.push(...(id !== undefined ? [id] : [...bytes].map((b) => b + 3)));
  }
  for (;;) {
    let [best, at, id] = [-1e10, -1, -1];
    for (let i = 0; i + 1 < t.length; i++) {
      const p = lookup.get(vocab.pieces[t[i]!]! + vocab.pieces[t[i + 1]!]!);
      if (p !== undefined && vocab.scores[p]! > best) [best, at, id] = [vocab.scores[p]!, i, p];
    }
    if (at === -1) return t;
    t.splice(at, 2, id);
  }
}

describe("llama2.c tokenizer (tok512)", async () => {
  const tok = await loadTok512();

  it("encodes random texts as run.c's loop with string lookups does, also with duplicate pieces", () => {
    const vocab = parseLlama2cVocab(readFileSync(join(STORIES, "tok512.bin")));
    // Duplicates: two later ids repeat earlier multi-byte pieces (run.c's bsearch pick is unspecified; both take the lowest id).
    const dup = { ...vocab, pieces: [...vocab.pieces], scores: Float32Array.from(vocab.scores) };
    dup.pieces[510] = dup.pieces[300]!;
    dup.pieces[511] = dup.pieces[400]!;
    dup.scores[511] = 1e9;
    const rand = mulberry32(13);
    const chars = [..."abcdefghijklmnopqrstuvwxyz     .,!?\nTSLO", "é", "漢", "🙂", "ß"];
    for (const v of [vocab, dup]) {
      const t = new Llama2cTokenizer(v, { addBos: false });
      for (let trial = 0; trial < 150; trial++) {
        const text = Array.from({ length: 1 + Math.floor(rand() * 100) }, () => chars[Math.floor(rand() * chars.length)]).join("");
        expect(t.encode(text)).toEqual(runcEncode(v, text));
      }
    }
  });

  it("reads the vocabulary", () => {
    expect(tok.vocabSize).toBe(512);
    expect([tok.bosId, tok.eosId, tok.addBos]).toEqual([1, 2, true]);
    expect(tok.tokenText(1)).toBe("<s>");
    expect(tok.tokenText(2)).toBe("</s>");
    expect(tok.tokenText(3 + 0x41)).toBe("<0x41>");
    expect(tok.tokenText(259)).toBe(" t");
    expect([0, 1, 2].map((i) => tok.isSpecial(i))).toEqual([true, true, true]);
    expect(tok.isSpecial(3)).toBe(false);
    const whole = parseLlama2cVocab(readFileSync(join(STORIES, "tok512.bin")));
    expect(whole.pieces.length).toBe(512);
  });

  it("encodes like run.c (ids from the stories260K-hf README)", () => {
    expect(tok.encode("Once upon a time")).toEqual([1, 403, 407, 261, 378]);
    expect(tok.encode("")).toEqual([1]);
    expect(tok.encode("<s>")).toEqual([1, 410, 504, 419, 505]);
    expect(tok.encode("hi </s> there")).toEqual([1, 270, 417, 410, 504, 492, 419, 505, 383]);
    expect(tok.encode("Once upon a time", { addBos: false })).toEqual([403, 407, 261, 378]);
  });

  it("falls back to bytes (+3) for codepoints that are not pieces", () => {
    // 😀 = F0 9F 98 80, after the dummy prefix " "
    expect(tok.encode("😀", { addBos: false })).toEqual([410, 0xf0 + 3, 0x9f + 3, 0x98 + 3, 0x80 + 3]);
    expect(tok.tokenBytes(0xf0 + 3)).toEqual(Uint8Array.of(0xf0));
  });

  it("decodes: special tokens give no bytes, the space after BOS is stripped", () => {
    expect(tok.tokenBytes(1).length).toBe(0);
    expect(tok.decode([1, 403, 407, 261, 378])).toBe("Once upon a time");
    expect(tok.decode([403, 407])).toBe(" Once upon");
    expect(tok.decode([1, 403, 2, 1, 403])).toBe("OnceOnce"); // run.c strips after every BOS
  });

  it.each(TEXTS)("round trip %j", (text) => {
    const ids = tok.encode(text);
    expect(ids[0]).toBe(1);
    expect(tok.decode(ids)).toBe(text);
    expect(ids.slice(1).some((id) => tok.isSpecial(id))).toBe(false);
  });

  it("only recognises special tokens when asked", () => {
    expect(tok.encode("<s>hi</s>", { parseSpecial: true })).toEqual([1, 270, 417, 2]);
    expect(tok.encode("<s>hi</s>", { parseSpecial: true, addBos: true })).toEqual([1, 270, 417, 2]);
  });

  it("organism260K's copy is the same tokenizer", async () => {
    const other = await loadTok512(ORGANISM);
    for (const text of TEXTS) expect(other.encode(text)).toEqual(tok.encode(text));
  });

  it("encodes the organism chat prompt with BOS then the dummy prefix", () => {
    const ids = tok.encode("User: Write a poem\nAssistant:");
    expect(ids.slice(0, 1)).toEqual([1]);
    expect(tok.tokenText(ids[1]).startsWith(" ")).toBe(true);
    expect(tok.decode(ids)).toBe("User: Write a poem\nAssistant:");
    // No merge crosses "Assistant:" / " response" (README): prompt + continuation = whole string.
    const cont = tok.encodeParts([" I'm sorry"], { addBos: false }).slice(1); // drop the dummy prefix
    expect(tok.encode("User: Write a poem\nAssistant: I'm sorry")).toEqual([...ids, ...cont]);
  });

  it("rejects ids outside the vocabulary", () => {
    expect(() => tok.tokenBytes(512)).toThrow(RangeError);
    expect(() => tok.decode([-1])).toThrow(RangeError);
  });
});
