import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Tokenizer as HfLibTokenizer } from "@huggingface/tokenizers";
import { describe, expect, it } from "vitest";
import { HfTokenizer, type TokenizerJson } from "./hf.ts";
import { loadStoriesHf, loadTok512, STORIES_HF, TEXTS } from "./test-fixtures.ts";

const json = JSON.parse(readFileSync(join(STORIES_HF, "tokenizer.json"), "utf8")) as TokenizerJson;
const config = JSON.parse(readFileSync(join(STORIES_HF, "tokenizer_config.json"), "utf8"));

describe("Hugging Face tokenizer (stories260K-hf)", async () => {
  const hf = await loadStoriesHf();
  const l2c = await loadTok512();

  it("reads special tokens and add_bos_token from the config", () => {
    expect([hf.bosId, hf.eosId, hf.addBos, hf.vocabSize]).toEqual([1, 2, true, 512]);
    expect([hf.tokenText(1), hf.tokenText(2)]).toEqual(["<s>", "</s>"]);
    expect(hf.stripSpaceAfterBos).toBe(true);
    expect([...hf.specialTokens]).toEqual([["<unk>", 0], ["<s>", 1], ["</s>", 2]]);
  });

  it.each(TEXTS)("same ids and decode as llama2.c: %j", (text) => {
    const ids = hf.encode(text);
    expect(ids).toEqual(l2c.encode(text));
    expect(hf.decode(ids)).toBe(text);
    expect(hf.decode(ids)).toBe(l2c.decode(ids));
  });

  it("same ids without BOS", () => {
    for (const text of TEXTS) expect(hf.encode(text, { addBos: false })).toEqual(l2c.encode(text, { addBos: false }));
  });

  it("same token bytes and display text for every id", () => {
    for (let id = 0; id < 512; id++) {
      expect(hf.tokenBytes(id)).toEqual(l2c.tokenBytes(id));
      expect(hf.tokenText(id)).toBe(l2c.tokenText(id));
      expect(hf.isSpecial(id)).toBe(l2c.isSpecial(id));
    }
  });

  it("same decode of the reference greedy output, and the library agrees", () => {
    const ids = [1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 13, 438, 310];
    const lib = new HfLibTokenizer(json, config);
    expect(hf.decode(ids)).toBe(l2c.decode(ids));
    expect(hf.decode(ids)).toBe(lib.decode(ids, { skip_special_tokens: true }));
  });

  it("look-alikes of special tokens are text; the library alone would make them special", () => {
    const lib = new HfLibTokenizer(json, config);
    expect(lib.encode("<s>").ids).toEqual([1, 1]); // what we avoid
    expect(hf.encode("<s>")).toEqual([1, 410, 504, 419, 505]);
    expect(hf.encode("<unk>").includes(0)).toBe(false);
    expect(hf.encode("</s>").includes(2)).toBe(false);
  });

  it("recognises special tokens on request, like the library", () => {
    const lib = new HfLibTokenizer(json, config);
    for (const text of ["<s>hi</s>", "hi </s> there", "a<unk>b"]) {
      expect(hf.encode(text, { parseSpecial: true, addBos: false })).toEqual(lib.encode(text, { add_special_tokens: false }).ids);
    }
    expect(hf.encode("<s>hi", { parseSpecial: true })).toEqual([1, 270, 417]); // no double BOS
  });

  it("takes bos/eos/addBos overrides", () => {
    const t = new HfTokenizer(json, config, { addBos: false });
    expect(t.encode("a")).toEqual(hf.encode("a", { addBos: false }));
  });

  it("derives addBos from the post-processor when the config has no add_bos_token", () => {
    const { add_bos_token: _, ...rest } = config;
    expect(new HfTokenizer(json, rest).addBos).toBe(true);
    expect(new HfTokenizer({ ...json, post_processor: null }, rest).addBos).toBe(false);
  });
});

describe("Hugging Face tokenizer variants", () => {
  // Llama-2 "legacy: false" / Mistral layout: a Metaspace pre-tokenizer that prepends ▁ only to the first section.
  const metaspaceStep = { type: "Metaspace", replacement: "\u2581", prepend_scheme: "first", split: false };
  const decoder = { type: "Sequence", decoders: [{ type: "ByteFallback" }, { type: "Fuse" }, metaspaceStep] };
  const metaspace = { ...json, normalizer: null, pre_tokenizer: metaspaceStep, decoder } as TokenizerJson;

  it("Metaspace prepend_scheme first: same ids as the library, no ▁ after a special token", () => {
    const tok = new HfTokenizer(metaspace, config);
    const lib = new HfLibTokenizer(metaspace, config);
    expect(tok.stripSpaceAfterBos).toBe(true);
    for (const text of ["Once upon a time", "<s>hi</s> there", "a<unk>b", "héllo 😀\n"]) {
      expect(tok.encode(text, { parseSpecial: true, addBos: false })).toEqual(lib.encode(text, { add_special_tokens: false }).ids);
    }
    for (const text of TEXTS) {
      const ids = tok.encode(text);
      // A leading space of the text merges into the prepended ▁ and is lost, in Hugging Face too.
      expect(tok.decode(ids)).toBe(text.startsWith(" ") ? text.slice(1) : text);
      if (text.length > 0) expect(tok.decode(ids)).toBe(lib.decode(ids, { skip_special_tokens: true }));
    }
  });

  it("byte-level BPE: round trips and agrees with the library's ids and decode", async () => {
    const { byteLevelTokenizer, byteLevelJson } = await import("./test-bytelevel.ts");
    const tok = byteLevelTokenizer();
    expect([tok.bosId, tok.addBos, tok.stripSpaceAfterBos]).toEqual([-1, false, false]);
    const lib = new HfLibTokenizer(byteLevelJson(), {});
    for (const text of TEXTS) {
      const ids = tok.encode(text);
      expect(tok.decode(ids)).toBe(text);
      if (text.length > 0) {
        expect(ids).toEqual(lib.encode(text, { add_special_tokens: false }).ids);
        expect(tok.decode(ids)).toBe(lib.decode(ids));
      }
    }
    expect(tok.encode(" hi user").map((id) => tok.tokenText(id))).toEqual([" hi", " user"]);
    expect(tok.encode("<|im_end|>").some((id) => tok.isSpecial(id))).toBe(false);
  });

  it("special tokens with lstrip/rstrip eat adjacent whitespace, like the library", () => {
    const added = json.added_tokens!.map((t) => (t.content === "</s>" ? { ...t, lstrip: true, rstrip: true } : t));
    const stripping = { ...json, added_tokens: added } as TokenizerJson;
    const tok = new HfTokenizer(stripping, config);
    const lib = new HfLibTokenizer(stripping, config);
    const text = "hi  </s>\n there";
    expect(tok.encode(text, { parseSpecial: true, addBos: false })).toEqual(lib.encode(text, { add_special_tokens: false }).ids);
    expect(tok.decode(tok.encode(text, { parseSpecial: true }))).toBe("hi there"); // the legacy Prepend normalizer gives "there" its own ▁
  });

  it("rejects unsupported decoders with a clear error", () => {
    expect(() => new HfTokenizer({ ...json, decoder: { type: "WordPiece" } }, config)).toThrow(/WordPiece is not supported/);
  });
});
