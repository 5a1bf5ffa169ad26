import { describe, expect, it } from "vitest";
import { backgroundPassages, loadBooks, samplePassages, sentences } from "./background.ts";
import { mulberry32 } from "./train-lib.ts";

describe("sentences", () => {
  it("splits after . ! ? (and a closing quote) before a capital, and folds white space", () => {
    expect(sentences('It was cold.  The ship sailed!\nDid it? "Yes." Then it sank. e.g. this stays.')).toEqual([
      "It was cold.",
      "The ship sailed!",
      "Did it?",
      '"Yes."',
      "Then it sank. e.g. this stays.",
    ]);
  });
});

describe("samplePassages", () => {
  const doc = Array.from({ length: 400 }, (_, i) => `Sentence number ${i} says something plain.`);
  it("draws runs of whole consecutive sentences, short and long, deterministically", () => {
    const a = samplePassages([doc], 300, mulberry32(3), 0.25);
    expect(samplePassages([doc], 300, mulberry32(3), 0.25)).toEqual(a);
    expect(a.length).toBe(300);
    for (const p of a) {
      const first = Number(/^Sentence number (\d+)/.exec(p)![1]);
      const n = p.split(". ").length;
      expect(p).toBe(doc.slice(first, first + n).join(" "));
      expect(p.length).toBeGreaterThanOrEqual(20);
      expect(p.length).toBeLessThanOrEqual(2000);
    }
    const long = a.filter((p) => p.length >= 600).length;
    expect(long).toBeGreaterThan(40);
    expect(long).toBeLessThan(110);
  });
  it("returns nothing from empty documents", () => {
    expect(samplePassages([[], []], 10, mulberry32(1), 0.5)).toEqual([]);
  });
});

describe("backgroundPassages", () => {
  it("samples benign passages from both books, seeded, as contiguous text of the books", () => {
    const a = backgroundPassages({ perBook: 40, seed: 7, longShare: 0.25 });
    expect(a).toEqual(backgroundPassages({ perBook: 40, seed: 7, longShare: 0.25 }));
    expect(a).not.toEqual(backgroundPassages({ perBook: 40, seed: 8, longShare: 0.25 }));
    expect(a.every((x) => x.label === 0)).toBe(true);
    const books = loadBooks();
    for (const book of books) {
      const mine = a.filter((x) => x.source === book.source);
      expect(mine.length).toBe(40);
      const joined = book.docs.map((d) => d.join(" "));
      for (const x of mine) expect(joined.some((d) => d.includes(x.text.slice(0, 1999)))).toBe(true);
    }
  });
});
