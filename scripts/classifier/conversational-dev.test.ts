/**
 * The development list of conversational messages must stay apart from the
 * held-out list (or choosing changes on it would tune on the test) and from
 * the training lists (or it would only measure memory).
 */
import { describe, expect, it } from "vitest";
import { CONVERSATIONAL_CASES } from "../../edge/classifier/conversational-cases.ts";
import { contrastSet } from "./augment.ts";
import { CONVERSATIONAL_DEV_CASES } from "./conversational-dev.ts";
import { dedupeKey } from "./data.ts";

const overlap = (xs: readonly string[], ys: readonly string[]): string[] => {
  const keys = new Set(ys.map(dedupeKey));
  return xs.filter((x) => keys.has(dedupeKey(x)));
};

describe("conversational development list (conversational-dev.ts)", () => {
  it("has no message of the held-out list", () => {
    expect(overlap(CONVERSATIONAL_DEV_CASES, CONVERSATIONAL_CASES)).toEqual([]);
  });
  it("has no message of the training contrast sets", () => {
    expect(overlap(CONVERSATIONAL_DEV_CASES, contrastSet().map((x) => x.text))).toEqual([]);
  });
  it("has no repeats", () => {
    expect(new Set(CONVERSATIONAL_DEV_CASES.map(dedupeKey)).size).toBe(CONVERSATIONAL_DEV_CASES.length);
  });
});
