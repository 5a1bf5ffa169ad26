import { describe, expect, it } from "vitest";
import { splitSpecial } from "./special-split.ts";

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
