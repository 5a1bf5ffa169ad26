import { describe, expect, it } from "vitest";
import { Mix } from "./mix.ts";
import { ENDPOINTS } from "./wire.ts";

describe("Mix", () => {
  it("any three consecutive requests cover the three endpoints", () => {
    const m = new Mix(1, "kill9-mid-stream");
    for (let i = 0; i < 30; i++) expect(new Set([0, 1, 2].map((k) => m.at(i + k).endpoint))).toEqual(new Set(ENDPOINTS));
  });

  it("the same seed and case give the same traffic; the seed changes it", () => {
    const picks = (seed: number) => Array.from({ length: 40 }, (_, i) => new Mix(seed, "load-ramp").at(i));
    expect(picks(1)).toEqual(picks(1));
    expect(picks(1)).not.toEqual(picks(2));
  });

  it("streams about half the requests, and keeps to the endpoints asked for", () => {
    const m = new Mix(7, "stop-string");
    const streamed = Array.from({ length: 2_000 }, (_, i) => m.at(i).stream).filter(Boolean).length;
    expect(streamed / 2_000).toBeGreaterThan(0.45);
    expect(streamed / 2_000).toBeLessThan(0.55);
    const among = Array.from({ length: 10 }, (_, i) => m.at(i, ["chat", "completions"]).endpoint);
    expect(new Set(among)).toEqual(new Set(["chat", "completions"]));
  });

  it("next() walks the same sequence as at()", () => {
    const a = new Mix(3, "x");
    const b = new Mix(3, "x");
    expect(Array.from({ length: 9 }, () => a.next())).toEqual(Array.from({ length: 9 }, (_, i) => b.at(i)));
  });
});
