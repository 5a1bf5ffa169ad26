import { describe, expect, it } from "vitest";
import { chooseConditionBand, flagRate, gateFlag, type BandExample } from "./condition-band.ts";

describe("the condition route as a classifier", () => {
  it("flags at or above the band, not below, the condition inside, the first stage where the condition has no value", () => {
    const band = { lo: 0.1, hi: 0.5 };
    expect(gateFlag({ risk: 0.5, holds: false }, band, 0.2)).toBe(true);
    expect(gateFlag({ risk: 0.05, holds: true }, band, 0.2)).toBe(false);
    expect(gateFlag({ risk: 0.3, holds: false }, band, 0.2)).toBe(false);
    expect(gateFlag({ risk: 0.15, holds: true }, band, 0.2)).toBe(true);
    expect(gateFlag({ risk: 0.3 }, band, 0.2)).toBe(true);
    expect(gateFlag({ risk: 0.15 }, band, 0.2)).toBe(false);
    expect(flagRate([{ risk: 0.6 }, { risk: 0.3, holds: false }, { risk: 0.01 }, { risk: 0.2, holds: true }], band, 0.2)).toBe(0.5);
  });

  /** Examples whose first-stage risk is uninformative between 0.1 and 0.5 and whose condition is right there, wrong above. */
  function world(): BandExample[] {
    const xs: BandExample[] = [];
    const add = (group: string, y: 0 | 1, risk: number, holds: boolean, n: number) => {
      for (let i = 0; i < n; i++) xs.push({ group, y, risk, holds });
    };
    add("harmful", 1, 0.9, false, 50);
    add("harmful", 1, 0.3, true, 30);
    add("harmful", 1, 0.12, true, 20);
    add("ordinary", 0, 0.01, true, 950);
    add("ordinary", 0, 0.3, false, 40);
    add("ordinary", 0, 0.8, true, 10);
    add("lookalike", 0, 0.4, false, 30);
    add("lookalike", 0, 0.15, false, 20);
    return xs;
  }

  it("picks the band where the condition is right, within the false-positive cap", () => {
    const c = chooseConditionBand(world(), { pool: "ordinary", maxFpr: 0.02, firstThreshold: 0.2 });
    expect(c.band).toEqual({ lo: 0.1, hi: 0.5 });
    // every harmful example is flagged (the band catches the 0.12 and 0.3 ones), no lookalike, 10 of 1000 ordinary
    expect(c.rates).toEqual({ harmful: 1, ordinary: 0.01, lookalike: 0 });
    expect(c.baseline.rates).toEqual({ harmful: 0.8, ordinary: 0.05, lookalike: 0.6 });
    expect(c.j).toBeCloseTo(1 - 0.005, 12);
    expect(c.inBand).toBeCloseTo(140 / 1150, 12);
  });

  it("keeps the first stage alone (an empty band) when no band helps", () => {
    const xs = world().map((x) => ({ ...x, holds: x.y === 0 }));
    const c = chooseConditionBand(xs, { pool: "ordinary", maxFpr: 0.02, firstThreshold: 0.2 });
    expect(c.band).toEqual({ lo: 0.2, hi: 0.2 });
    expect(c.inBand).toBe(0);
    expect(c.j).toBeCloseTo(c.baseline.j, 12);
  });

  it("holds the pool's false-positive rate: a band that would raise it past the cap is not taken", () => {
    // the condition holds for every ordinary prompt at risk 0.01: a band reaching down there floods the pool
    const xs = world();
    const c = chooseConditionBand(xs, { pool: "ordinary", maxFpr: 0.02, firstThreshold: 0.2, grid: [0.005, 0.1, 0.5] });
    expect(c.band.lo).toBeGreaterThan(0.01);
    expect(c.rates.ordinary!).toBeLessThanOrEqual(0.05);
  });
});
