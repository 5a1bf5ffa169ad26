/**
 * Smoke test of `npm run bench:tokenizer`: a row per length with both ways'
 * times (numbers, never checked against a value) and one token count (the
 * script fails if the two ways' counts differ), then a row per length for the
 * engine's thread against the tokenizer thread; bad flags exit 2.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { captureOutput } from "../test/support/capture.ts";
import { main } from "./bench-tokenizer.ts";

describe("bench:tokenizer", () => {
  afterEach(() => vi.restoreAllMocks());

  it("prints help, and rejects bad flags with exit code 2", async () => {
    const { out, err } = captureOutput();
    expect(await main(["--help"])).toBe(0);
    expect(out.join("")).toContain("Usage: npm run bench:tokenizer");
    expect(await main(["--lengths", "10,x"])).toBe(2);
    expect(await main(["--rounds", "0"])).toBe(2);
    expect(await main(["--lengths", "99999999"])).toBe(2);
    expect(err.join("")).toContain('--lengths must be an integer >= 1, got "x"');
    expect(err.join("")).toContain("--lengths 99999999: the text has");
  });

  it("times each length both ways on stories260K-hf, where word by word applies, and on both threads", async () => {
    const { out } = captureOutput();
    expect(await main(["--lengths", "200,3000", "--rounds", "1"])).toBe(0);
    const text = out.join("");
    expect(text).toContain("word by word applies");
    const lines = text.split("\n");
    /** The two rows under the header that starts with `chars` (the index-th such table). */
    const rowsOf = (index: number) => {
      const header = lines.map((l, i) => (l.startsWith("chars ") ? i : -1)).filter((i) => i >= 0)[index]!;
      return lines.slice(header + 2, header + 4).map((l) => l.split(/\s{2,}/));
    };
    const speed = rowsOf(0);
    expect(speed.map((r) => r[0])).toEqual(["200", "3,000"]);
    for (const r of speed) {
      expect(Number(r[1]!.replace(/,/g, ""))).toBeGreaterThan(0);
      for (const cell of r.slice(2, 5)) expect(Number(cell)).toBeGreaterThan(0);
      expect(r[5]).toMatch(/^\d+\.\dx$/);
    }
    const thread = rowsOf(1);
    expect(thread.map((r) => r[0])).toEqual(["200", "3,000"]);
    for (const r of thread) for (const cell of r.slice(1)) expect(Number(cell)).toBeGreaterThan(0);
  });
});
