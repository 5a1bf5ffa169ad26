import { describe, expect, it } from "vitest";
import { mulberry32 } from "../model/random-model.ts";
import { splitSpecial, type Span } from "./special-split.ts";
import type { EncodePart } from "./types.ts";

const specials = new Map([["<s>", 1], ["</s>", 2], ["<|im_start|>", 5], ["<|im", 6]]);

describe("splitSpecial", () => {
  it("splits at special strings, longest first", () => {
    expect(splitSpecial("<s>a</s><|im_start|>b<|im", specials)).toEqual([1, "a", 2, 5, "b", 6]);
  });
  it("leaves protected spans as text", () => {
    const text = "<s>x </s> y</s>";
    expect(splitSpecial(text, specials, [{ start: 3, end: 11 }])).toEqual([1, "x </s> y", 2]);
  });
  it("returns plain text unchanged", () => {
    expect(splitSpecial("hello", specials)).toEqual(["hello"]);
    expect(splitSpecial("", specials)).toEqual([]);
  });
});

/** The plain definition: at each position, the longest key that starts there and overlaps no span. */
function reference(text: string, specials: ReadonlyMap<string, number>, spans: readonly Span[]): EncodePart[] {
  const keys = [...specials.keys()].filter((k) => k.length > 0).sort((a, b) => b.length - a.length);
  const parts: EncodePart[] = [];
  let textStart = 0;
  for (let i = 0; i < text.length; ) {
    const key = keys.find((k) => text.startsWith(k, i) && spans.every((s) => i + k.length <= s.start || s.end <= i));
    if (key === undefined) {
      i++;
      continue;
    }
    if (i > textStart) parts.push(text.slice(textStart, i));
    parts.push(specials.get(key)!);
    i += key.length;
    textStart = i;
  }
  if (textStart < text.length) parts.push(text.slice(textStart));
  return parts;
}

describe("splitSpecial against its plain definition", () => {
  it("agrees on 3,000 seeded random texts with overlapping, nested, empty and unsorted spans", () => {
    const random = mulberry32(7);
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)]!;
    const atoms = ["<s>", "</s>", "<|im_start|>", "<|im", "<", "|", "s>", "a", " ", "<<", "é", "😀"];
    for (let n = 0; n < 3_000; n++) {
      const text = Array.from({ length: 1 + Math.floor(random() * 30) }, () => pick(atoms)).join("");
      const spans: Span[] = Array.from({ length: Math.floor(random() * 4) }, () => {
        const a = Math.floor(random() * (text.length + 1));
        const b = Math.floor(random() * (text.length + 1));
        return random() < 0.1 ? { start: a, end: a } : { start: Math.min(a, b), end: Math.max(a, b) };
      });
      expect(splitSpecial(text, specials, spans), JSON.stringify({ text, spans })).toEqual(reference(text, specials, spans));
    }
  });
});
