import { describe, expect, it } from "vitest";
import { HfTokenizer } from "./hf.ts";
import { Llama2cTokenizer } from "./llama2c.ts";
import { loadTokenizer } from "./load.ts";
import { STORIES, STORIES_HF } from "./test-fixtures.ts";

describe("loadTokenizer", () => {
  it("loads a llama2.c tokenizer from the spec", async () => {
    const tok = await loadTokenizer(STORIES, { kind: "llama2c", file: "tok512.bin", bosId: 1, eosId: 2, addBos: true, vocabSize: 512 });
    expect(tok).toBeInstanceOf(Llama2cTokenizer);
    expect(tok.encode("Once upon a time")).toEqual([1, 403, 407, 261, 378]);
  });

  it("loads a llama2.c tokenizer without a vocab size (whole file)", async () => {
    const tok = await loadTokenizer(STORIES, { kind: "llama2c", file: "tok512.bin", bosId: 1, eosId: 2, addBos: false });
    expect(tok.vocabSize).toBe(512);
    expect(tok.encode("Once upon a time")).toEqual([403, 407, 261, 378]);
  });

  it("loads a Hugging Face tokenizer with its config", async () => {
    const tok = await loadTokenizer(STORIES_HF, { kind: "hf", file: "tokenizer.json", bosId: 1, eosId: 2, addBos: true });
    expect(tok).toBeInstanceOf(HfTokenizer);
    expect(tok.encode("Once upon a time")).toEqual([1, 403, 407, 261, 378]);
  });

  it("accepts a model vocabulary padded past the tokenizer's", async () => {
    const tok = await loadTokenizer(STORIES_HF, { kind: "hf", file: "tokenizer.json", bosId: -1, eosId: -1, addBos: true, vocabSize: 520 });
    expect([tok.vocabSize, tok.bosId, tok.eosId]).toEqual([520, 1, 2]);
    expect(tok.isSpecial(515)).toBe(true);
    expect(tok.decode([1, 403, 515])).toBe("Once");
  });

  it("rejects a tokenizer larger than the model's vocabulary", async () => {
    await expect(loadTokenizer(STORIES_HF, { kind: "hf", file: "tokenizer.json", bosId: 1, eosId: 2, addBos: true, vocabSize: 100 })).rejects.toThrow(/vocab size/);
  });

  it("reports a short llama2.c file", async () => {
    await expect(loadTokenizer(STORIES, { kind: "llama2c", file: "tok512.bin", bosId: 1, eosId: 2, addBos: true, vocabSize: 600 })).rejects.toThrow(/too short/);
  });
});
