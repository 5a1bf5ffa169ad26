/** Test helper: a tiny synthetic GPT-2/Qwen-style byte-level BPE tokenizer with ChatML (or other) special tokens. */
import { HfTokenizer, type TokenizerJson } from "./hf.ts";

/** GPT-2 bytes_to_unicode: the printable stand-in character of each byte. */
function byteChars(): string[] {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let n = 0;
  return Array.from({ length: 256 }, (_, b) => String.fromCodePoint(printable(b) ? b : 256 + n++));
}

export const CHATML_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** An added special token of the fixture: its text, and whether it eats the whitespace to its right (Phi-3's do). */
export interface SpecialSpec {
  content: string;
  rstrip?: boolean;
}

const CHATML_SPECIALS: readonly SpecialSpec[] = [{ content: "<|endoftext|>" }, { content: "<|im_start|>" }, { content: "<|im_end|>" }];

/**
 * The fixture's tokenizer.json: byte-level BPE with a few merges, `specials`
 * added after the base vocabulary in order, and `postProcessor` (default none).
 */
export function byteLevelJson(specials: readonly SpecialSpec[] = CHATML_SPECIALS, postProcessor: unknown = null): TokenizerJson {
  const chars = byteChars();
  const vocab: Record<string, number> = {};
  chars.forEach((c, i) => (vocab[c] = i));
  const sp = chars[0x20]; // "Ġ"
  const merges = [`h i`, `${sp} hi`, `u s`, `us e`, `use r`, `${sp} user`];
  for (const m of merges) vocab[m.replace(" ", "")] = Object.keys(vocab).length;
  const base = Object.keys(vocab).length;
  const json: TokenizerJson = {
    version: "1.0",
    added_tokens: specials.map((t, i) => ({
      id: base + i,
      content: t.content,
      special: true,
      normalized: false,
      lstrip: false,
      rstrip: t.rstrip ?? false,
      single_word: false,
    })),
    normalizer: null,
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: true } as TokenizerJson["pre_tokenizer"],
    post_processor: postProcessor,
    decoder: { type: "ByteLevel" },
    model: { type: "BPE", vocab, merges, unk_token: null, byte_fallback: false, fuse_unk: false, ignore_merges: false } as TokenizerJson["model"],
  };
  return json;
}

export function byteLevelTokenizer(): HfTokenizer {
  return new HfTokenizer(byteLevelJson(), { bos_token: null, eos_token: "<|im_end|>" });
}
