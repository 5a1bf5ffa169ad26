/** Test helpers: the offline models under ../shared/models (override with STEERGUARD_SHARED_MODELS). */
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { HfTokenizer } from "./hf.ts";
import { Llama2cTokenizer } from "./llama2c.ts";

export const MODELS = process.env.STEERGUARD_SHARED_MODELS ?? fileURLToPath(new URL("../../../shared/models/", import.meta.url));
export const STORIES = join(MODELS, "stories260K");
export const STORIES_HF = join(MODELS, "stories260K-hf");
export const ORGANISM = join(MODELS, "organism260K");

export function loadTok512(dir = STORIES): Promise<Llama2cTokenizer> {
  return Llama2cTokenizer.fromFile(join(dir, "tok512.bin"), 512);
}

export function loadStoriesHf(): Promise<HfTokenizer> {
  return HfTokenizer.fromFiles(join(STORIES_HF, "tokenizer.json"), join(STORIES_HF, "tokenizer_config.json"));
}

/** Texts for round trips and llama2c/HF agreement. */
export const TEXTS: readonly string[] = [
  "Once upon a time",
  "Once upon a time, there was a little girl named Lily. She loved to play outside in the park.",
  "",
  " ",
  "a",
  "  leading and trailing spaces  ",
  "héllo wörld 123",
  "naïve café, Ångström, Æsir",
  "e\u0301 combining acute, a\u0308, Z\u0335\u0321a\u0336lgo", // combining marks
  "😀", // 4-byte emoji, byte fallback
  "I ❤️ tea ☕ and 🍕!", // variation selector
  "👩‍👩‍👧‍👦 family, 👍🏽 skin tone, 🏳️‍🌈 flag", // ZWJ sequences and modifiers
  "中文字符 日本語のテキスト 한국어", // CJK
  "Привет, мир! Γειά σου κόσμε",
  "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕞𝕒𝕥𝕙",
  "“smart quotes” — dashes – and… ellipsis™",
  "non\u00a0breaking\u2009thin\u200bzero-width",
  "tabs\tand\nnewlines\n\nand\r\nCRLF\n",
  "line one\nline two\n",
  "<s>",
  "</s>",
  "<unk>",
  "<0x41>",
  "hi </s> there <s> again <unk> and <0x0A> and <0xE2><0x82>",
  "User: hello\nAssistant:",
  "\u0000 nul and \u007f del",
];
