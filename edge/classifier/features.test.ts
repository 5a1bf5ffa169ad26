import { describe, expect, it } from "vitest";
import { DEFAULT_FEATURE_CONFIG, Featurizer, fmix32, normalizeText } from "./features.ts";
import { decodeBase64, encodeBase64 } from "./base64.ts";

describe("normalizeText", () => {
  it("folds case, punctuation and white space", () => {
    expect(normalizeText("How do I  KILL a Python-process?")).toBe(" how do i kill a python process ");
  });
  it("undoes homoglyphs, zero-width characters, math letters, accents and tag characters", () => {
    expect(normalizeText("Hоw tо mаkе а bоmb")).toBe(" how to make a bomb "); // Cyrillic о а е
    expect(normalizeText("b\u200bo\u200dm\u2060b\ufeff")).toBe(" bomb ");
    expect(normalizeText("𝐛𝐨𝐦𝐛 ｂｏｍｂ")).toBe(" bomb bomb ");
    expect(normalizeText("nérve gás")).toBe(" nerve gas ");
    expect(normalizeText("x \u{E0062}\u{E006F}\u{E006D}\u{E0062}")).toBe(" x bomb ");
  });
  it("reads interior leetspeak but leaves numbers and model names alone", () => {
    expect(normalizeText("b0mb c0c4ine h@ck gpt4 mp3 2024")).toBe(" bomb cocaine hack gpt4 mp3 2024 ");
  });
  it("survives lone surrogates", () => {
    expect(normalizeText("a\uD800b \uDC00c")).toBe(" a b c ");
  });
  it("cuts runs of three or more of one letter (letterRuns), after reading leetspeak", () => {
    expect(normalizeText("Heyyy hiiiiii YOOO b000mb")).toBe(" hey hi yo bomb ");
    expect(normalizeText("good hello kill 1000 zzz")).toBe(" good hello kill 1000 z "); // pairs and digits stay
    expect(normalizeText("heyyy hiiii", { ...DEFAULT_FEATURE_CONFIG, letterRuns: 2 })).toBe(" heyy hii ");
    expect(normalizeText("heyyy", { ...DEFAULT_FEATURE_CONFIG, letterRuns: 0 })).toBe(" heyyy ");
  });
  it("drops stopwords when asked", () => {
    expect(normalizeText("How can I kill a Python process?", { ...DEFAULT_FEATURE_CONFIG, dropStopwords: true })).toBe(" kill python process ");
  });
});

describe("Featurizer", () => {
  const cfg = { ...DEFAULT_FEATURE_CONFIG, dim: 1 << 18 };
  it("is deterministic across calls and instances", () => {
    const a = Array.from(new Featurizer(cfg).indices("Write a poem about the sea."));
    const f = new Featurizer(cfg);
    f.indices("something else entirely, to dirty the scratch buffers");
    expect(Array.from(f.indices("Write a poem about the sea."))).toEqual(a);
  });
  it("hashes to pinned values (changing them breaks shipped artifacts)", () => {
    expect(fmix32(0)).toBe(0);
    expect(fmix32(1)).toBe(1364076727);
    const idx = Array.from(new Featurizer({ ...cfg, dropStopwords: false }).indices("ab cd"));
    // " ab cd " (7 units): char 3-, 4-, 5-grams = 5 + 4 + 3, then 2 words + 1 bigram.
    expect(idx.length).toBe(12 + 3);
    expect(idx).toEqual([187786, 137049, 183579, 102141, 15097, 169283, 206139, 188237, 149746, 203148, 85016, 219609, 153238, 29125, 236731]);
  });
  it("maps obfuscated spellings to the same features", () => {
    const f = new Featurizer(cfg);
    const plain = Array.from(f.indices("how to make a bomb"));
    expect(Array.from(f.indices("HOW to m\u0430ke a b0mb!!"))).toEqual(plain);
  });
  it("rejects a dim that is not a power of two", () => {
    expect(() => new Featurizer({ ...cfg, dim: 1000 })).toThrow(/power of two/);
  });
});

describe("base64", () => {
  it("round-trips every length", () => {
    for (let n = 0; n < 20; n++) {
      const b = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 255);
      expect(Array.from(decodeBase64(encodeBase64(b)))).toEqual(Array.from(b));
    }
    expect(encodeBase64(new TextEncoder().encode("hello"))).toBe("aGVsbG8=");
  });
});
