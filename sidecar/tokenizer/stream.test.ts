import { describe, expect, it } from "vitest";
import { TextStreamDecoder } from "./stream.ts";
import { byteLevelTokenizer } from "./test-bytelevel.ts";
import { loadStoriesHf, loadTok512, TEXTS } from "./test-fixtures.ts";
import type { Tokenizer } from "./types.ts";

function deltas(tok: Tokenizer, ids: readonly number[]): string[] {
  const dec = new TextStreamDecoder(tok);
  return [...ids.map((id) => dec.push(id)), dec.flush()];
}

describe("TextStreamDecoder", async () => {
  const l2c = await loadTok512();
  const hf = await loadStoriesHf();

  it("holds back emoji split across byte-fallback tokens, never emitting U+FFFD", () => {
    const ids = l2c.encode("A 😀 and 👩‍👩‍👧!");
    const bytesTokens = ids.filter((id) => id >= 3 && id < 259);
    expect(bytesTokens.length).toBeGreaterThan(8); // the emoji really are byte tokens
    const out = deltas(l2c, ids);
    expect(out.some((d) => d.includes("\uFFFD"))).toBe(false);
    expect(out.join("")).toBe(l2c.decode(ids));
    expect(out.join("")).toBe("A 😀 and 👩‍👩‍👧!");
    // each delta is whole characters: the first byte token of 😀 gives nothing yet
    const first = ids.indexOf(0xf0 + 3);
    expect(out[first]).toBe("");
    expect(out[first + 3]).toBe("😀");
  });

  it.each(TEXTS)("concatenated deltas equal decode(): %j", (text) => {
    for (const tok of [l2c, hf]) {
      const ids = tok.encode(text);
      const out = deltas(tok, ids);
      expect(out.join("")).toBe(tok.decode(ids));
      expect(out.join("")).toBe(text);
      expect(out.some((d) => d.includes("\uFFFD"))).toBe(false);
    }
  });

  it("strips the space after BOS only, like decode()", () => {
    const ids = l2c.encode("Once upon a time");
    expect(deltas(l2c, ids).slice(0, 3)).toEqual(["", "Once", " upon"]);
    expect(deltas(l2c, ids.slice(1)).join("")).toBe(" Once upon a time");
  });

  it("a stream cut inside a character flushes one U+FFFD, like decode()", () => {
    const ids = [1, 410, 0xf0 + 3, 0x9f + 3];
    const out = deltas(l2c, ids);
    expect(out.join("")).toBe(l2c.decode(ids));
    expect(out.at(-1)).toBe("\uFFFD");
  });

  it("works for byte-level tokenizers", () => {
    const tok = byteLevelTokenizer();
    const text = "hi 😀 user 中文";
    const ids = tok.encode(text);
    const out = deltas(tok, ids);
    expect(out.join("")).toBe(text);
    expect(out.some((d) => d.includes("\uFFFD"))).toBe(false);
  });

  it("generated ids after a prompt: the leading space of the first token stays", () => {
    const prompt = l2c.encode("User: hi\nAssistant:");
    const gen = l2c.encodeParts([" I'm sorry"], { addBos: false }).slice(1);
    const dec = new TextStreamDecoder(l2c);
    dec.pushAll(prompt);
    expect(dec.pushAll(gen) + dec.flush()).toBe(" I'm sorry");
  });
});
