/**
 * ceiling:encoder's two computations on data whose answer is known (a planted
 * direction, and labels that ignore the embeddings), and its CLI on the real
 * encoder and XSTest (a few prompts).
 */
import { describe, expect, it } from "vitest";
import { expectUsageErrors } from "../../test/support/cli.ts";
import { runScript } from "../../test/support/process.ts";
import { LINEAR_PROBE } from "./encoder-probe.ts";
import { outOfFold, separation } from "./ceiling-encoder.ts";
import { mulberry32 } from "./train-lib.ts";

describe("separation", () => {
  it("gives the AUROC and the share of negatives at or above the 90%-recall score", () => {
    // Ten positives 10..19, five negatives: 0, 5, 11, 15, 30. The 90%-recall score is 11 (9 of 10 at or above it).
    const pos = [10, 11, 12, 13, 14, 15, 16, 17, 18, 19];
    const neg = [0, 5, 11, 15, 30];
    const s = separation([...pos, ...neg], [...pos.map(() => 1 as const), ...neg.map(() => 0 as const)]);
    expect(s.safeFlagged).toBeCloseTo(3 / 5, 12);
    // Pairs (pos, neg) won by pos: over 0 and 5 all 20; over 11: 8.5 (10 loses, 11 ties); over 15: 4.5; over 30: 0.
    expect(s.auroc).toBeCloseTo((20 + 8.5 + 4.5) / 50, 12);
  });
});

describe("outOfFold", () => {
  const rng = mulberry32(7);
  const gauss = () => Math.sqrt(-2 * Math.log(rng() + 1e-12)) * Math.cos(2 * Math.PI * rng());
  const embs = Array.from({ length: 240 }, () => Float32Array.from({ length: 8 }, gauss));
  const planted = embs.map((e) => (e[0]! + 0.3 * gauss() > 0 ? 1 : 0) as 0 | 1);
  const ignored = embs.map(() => (rng() < 0.5 ? 1 : 0) as 0 | 1);

  it("scores every item from a probe that did not see it: a planted direction is found, labels that ignore the embeddings are not", () => {
    const found = outOfFold(embs, planted, 5, 1, LINEAR_PROBE);
    expect(found.every(Number.isFinite)).toBe(true);
    expect(separation(found, planted).auroc).toBeGreaterThan(0.9);
    const chance = separation(outOfFold(embs, ignored, 5, 1, LINEAR_PROBE), ignored).auroc;
    expect(chance).toBeGreaterThan(0.3);
    expect(chance).toBeLessThan(0.7);
    // A seed gives the same folds and fits, so a printed row can be reproduced.
    expect(outOfFold(embs, ignored, 5, 1, LINEAR_PROBE)).toEqual(outOfFold(embs, ignored, 5, 1, LINEAR_PROBE));
  });
});

describe("ceiling:encoder CLI (real process)", () => {
  const run = (...args: string[]) => runScript("scripts/classifier/ceiling-encoder.ts", args, 120_000);

  it("prints its help, and rejects bad flags with exit 2", () => {
    expectUsageErrors(run, /--folds K/, /Usage: npm run ceiling:encoder/, [
      [["--folds", "1"], /--folds must be an integer >= 2/],
      [["--seeds", "0"], /--seeds must be an integer >= 1/],
      [["--nope"], /Unknown option '--nope'/],
    ]);
  });

  it("embeds XSTest prompts with the edge's encoder and prints the shipped probe's row and one per fitted probe and seed", () => {
    const r = run("--limit", "60", "--folds", "2", "--seeds", "1");
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^XSTest: \d+ unsafe, \d+ safe prompts; 2 folds; 1 seed$/);
    const rows = lines.slice(2).map((l) => /^(.+?)\s+(\d\.\d{3})\s+(\d\.\d{3})$/.exec(l));
    expect(rows.map((m) => m?.[1])).toEqual(["shipped probe (trained without XSTest)", "linear, in-domain, seed 1", "64 units, in-domain, seed 1"]);
    // The shipped probe separates XSTest's pairs better than chance (0.865 on all 450).
    expect(Number(rows[0]![2])).toBeGreaterThan(0.6);
  }, 120_000);
});
