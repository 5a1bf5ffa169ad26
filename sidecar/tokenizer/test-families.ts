/**
 * Test helpers for the chat-template families: the vendored templates
 * (templates/, sources in templates/README.md) and byte-level fixture
 * tokenizers carrying each family's special tokens, with the BOS/EOS
 * settings of the family's tokenizer_config.json. The vocabularies are
 * synthetic; the special tokens, their rstrip flags and the BOS rules are
 * the real ones.
 */
import { readFileSync } from "node:fs";
import { HfTokenizer } from "./hf.ts";
import { byteLevelJson } from "./test-bytelevel.ts";

export function readTemplate(name: string): string {
  return readFileSync(new URL(`templates/${name}.jinja`, import.meta.url), "utf8");
}

/** Phi-3 / Phi-3.5 mini: role tokens and <|end|> strip the whitespace after them; add_bos_token false. */
export function phi3Tokenizer(): HfTokenizer {
  const roles = ["<|assistant|>", "<|system|>", "<|end|>", "<|user|>"].map((content) => ({ content, rstrip: true }));
  const json = byteLevelJson([{ content: "<unk>" }, { content: "<s>" }, { content: "<|endoftext|>" }, ...roles]);
  return new HfTokenizer(json, { bos_token: "<s>", eos_token: "<|endoftext|>", add_bos_token: false });
}

const LLAMA3_SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>", "<|eot_id|>", "<|python_tag|>"];

/** Llama 3.x: no add_bos_token in the config; the post-processor prepends <|begin_of_text|>, as the real tokenizer.json's does. */
export function llama3Tokenizer(): HfTokenizer {
  const bare = byteLevelJson(LLAMA3_SPECIALS.map((content) => ({ content })));
  const bosId = bare.added_tokens![0]!.id;
  const bos = { SpecialToken: { id: "<|begin_of_text|>", type_id: 0 } };
  const postProcessor = {
    type: "Sequence",
    processors: [
      { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true },
      {
        type: "TemplateProcessing",
        single: [bos, { Sequence: { id: "A", type_id: 0 } }],
        pair: [bos, { Sequence: { id: "A", type_id: 0 } }, { SpecialToken: { id: "<|begin_of_text|>", type_id: 1 } }, { Sequence: { id: "B", type_id: 1 } }],
        special_tokens: { "<|begin_of_text|>": { id: "<|begin_of_text|>", ids: [bosId], tokens: ["<|begin_of_text|>"] } },
      },
    ],
  };
  const json = byteLevelJson(LLAMA3_SPECIALS.map((content) => ({ content })), postProcessor);
  return new HfTokenizer(json, { bos_token: "<|begin_of_text|>", eos_token: "<|eot_id|>" });
}

/** Gemma / Gemma 2: add_bos_token true, and the template writes {{ bos_token }} itself. */
export function gemmaTokenizer(): HfTokenizer {
  const json = byteLevelJson(["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"].map((content) => ({ content })));
  return new HfTokenizer(json, { bos_token: "<bos>", eos_token: "<eos>", add_bos_token: true });
}

/** Mistral v0.3: [INST] / [/INST] are control tokens; BOS <s> added, and written by the template. */
export function mistralTokenizer(): HfTokenizer {
  const json = byteLevelJson(["<unk>", "<s>", "</s>", "[INST]", "[/INST]"].map((content) => ({ content })));
  return new HfTokenizer(json, { bos_token: "<s>", eos_token: "</s>", add_bos_token: true });
}
