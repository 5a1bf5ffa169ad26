import { describe, expect, it } from "vitest";
import { mergeByScore } from "./score-merge.ts";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseLlama2cVocab } from "./llama2c.ts";
import { loadTok512, STORIES } from "./test-fixtures.ts";
import { mulberry32 } from "../model/random-model.ts";

/** run.c's loop as written there: scan every pair, merge the best (first on ties), repeat. O(n^2). */
function runcMerge(tokens: number[], pairId: (a: number, b: number) => number, score: (id: number) => number): number[] {
  const t = [...tokens];
  for (;;) {
    let best = -1e10;
    let at = -1;
    let id = -1;
    for (let i = 0; i + 1 < t.length; i++) {
      const p = pairId(t[i]!, t[i + 1]!);
      if (p !== -1 && score(p) > best) [best, at, id] = [score(p), i, p];
    }
    if (at === -1) return t;
    t.splice(at, 2, id);
  }
}

describe("score-ordered merge (llama2.c BPE)", () => {
  it("equals run.c's quadratic loop on random token strings, ties included", () => {
    const rand = mulberry32(5);
    // a toy vocabulary: tokens 0..5 are letters; pair (a, b) merges into 10 + 6a + b with few distinct scores (many ties)
    const pairId = (a: number, b: number) => (a < 6 && b < 6 && (a + b) % 3 !== 0 ? 10 + 6 * a + b : a >= 10 && b < 6 && b % 2 === 0 ? 100 + (a % 50) : -1);
    const score = (id: number) => (id * 7) % 4;
    for (let trial = 0; trial < 300; trial++) {
      const tokens = Array.from({ length: 1 + Math.floor(rand() * 40) }, () => Math.floor(rand() * 6));
      expect(mergeByScore(tokens, pairId, score)).toEqual(runcMerge(tokens, pairId, score));
    }
    expect(mergeByScore([], pairId, score)).toEqual([]);
  });

  it("on tok512's real vocabulary, equals run.c's loop for random texts", () => {
    const vocab = parseLlama2cVocab(readFileSync(join(STORIES, "tok512.bin")));
    const lookup = new Map<string, number>();
    vocab.pieces.forEach((p, id) => lookup.has(p) || lookup.set(p, id));
    const pairId = (a: number, b: number) => lookup.get(vocab.pieces[a]! + vocab.pieces[b]!) ?? -1;
    const score = (id: number) => vocab.scores[id]!;
    const rand = mulberry32(9);
    const letters = "abcdefghijklmnopqrstuvwxyz     .,!?\nTSLO";
    for (let trial = 0; trial < 200; trial++) {
      const text = " " + Array.from({ length: 1 + Math.floor(rand() * 120) }, () => letters[Math.floor(rand() * letters.length)]).join("");
      const tokens = [...text].flatMap((ch) => lookup.get(ch) ?? [...Buffer.from(ch)].map((b) => b + 3)); // byte fallback
      expect(tokens.every((t) => t !== undefined)).toBe(true);
      expect(mergeByScore(tokens, pairId, score)).toEqual(runcMerge(tokens, pairId, score));
    }
  });

  it("a 300,000-character prompt and 100,000 CJK characters encode (no quadratic time, no stack overflow)", { timeout: 60_000 }, async () => {
    const tok = await loadTok512();
    const long = "Tell me a story about a dog. ".repeat(10_345).slice(0, 300_000);
    const ids = tok.encode(long);
    expect(ids.length).toBeGreaterThan(50_000);
    expect(tok.decode(ids)).toBe(long);
    const cjk = "漢".repeat(100_000);
    const cjkIds = tok.encode(cjk);
    expect(cjkIds.length).toBe(1 + 1 + 3 * 100_000); // BOS, dummy space, 3 byte-fallback tokens each
  });
});
