import { describe, expect, it } from "vitest";
import { parseConfig } from "../config/index.ts";
import { assignArm, decide, defaultArm, hashUnit } from "./index.ts";

const config = parseConfig({
  steering: { profile: "refusal", strength: 1.5 },
  experiments: [
    {
      name: "exp1",
      salt: "s1",
      arms: [
        { name: "control", policy: "never", weight: 0.2 },
        { name: "always", policy: "always", weight: 0.3 },
        { name: "selective", policy: "selective", weight: 0.5, threshold: 0.7, strength: 2 },
      ],
    },
  ],
});
const exp = config.experiments[0];

describe("arm assignment", () => {
  it("splits 10,000 users within 2% of the weights", () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 10_000; i++) {
      const arm = assignArm(exp, `user-${i}`);
      counts.set(arm.name, (counts.get(arm.name) ?? 0) + 1);
    }
    expect(Math.abs(counts.get("control")! / 10_000 - 0.2)).toBeLessThan(0.02);
    expect(Math.abs(counts.get("always")! / 10_000 - 0.3)).toBeLessThan(0.02);
    expect(Math.abs(counts.get("selective")! / 10_000 - 0.5)).toBeLessThan(0.02);
  });

  it("is sticky per user and changes with the salt", () => {
    for (let i = 0; i < 100; i++) expect(assignArm(exp, `u${i}`).name).toBe(assignArm(exp, `u${i}`).name);
    const other = { ...exp, salt: "s2" };
    const moved = Array.from({ length: 1000 }, (_, i) => assignArm(exp, `u${i}`).name !== assignArm(other, `u${i}`).name).filter(Boolean).length;
    expect(moved).toBeGreaterThan(300);
  });

  it("never picks an arm of weight 0", () => {
    const e = { ...exp, arms: [{ ...exp.arms[0], weight: 0 }, exp.arms[1]] };
    for (let i = 0; i < 500; i++) expect(assignArm(e, `x${i}`).name).toBe("always");
  });

  it("hashes into [0, 1)", () => {
    for (let i = 0; i < 1000; i++) {
      const u = hashUnit("salt", String(i));
      expect(u).toBeGreaterThanOrEqual(0);
      expect(u).toBeLessThan(1);
    }
  });
});

describe("route decision", () => {
  const [never, always, selective] = exp.arms;
  it("follows the policy", () => {
    expect(decide(config, "exp1", never, 0.99, 0.5).route).toBe("unsteered");
    expect(decide(config, "exp1", always, 0.01, 0.5).route).toBe("steered");
    expect(decide(config, "exp1", selective, 0.69, 0.5).route).toBe("unsteered");
    expect(decide(config, "exp1", selective, 0.7, 0.5).route).toBe("steered");
  });
  it("uses the arm's profile and strength over the defaults, and the classifier threshold when the arm has none", () => {
    expect(decide(config, "exp1", selective, 0.9, 0.5).steering).toEqual({ profile: "refusal", strength: 2 });
    expect(decide(config, "exp1", always, 0.9, 0.5).steering).toEqual({ profile: "refusal", strength: 1.5 });
    expect(decide(config, "exp1", never, 0.9, 0.5).steering).toBeNull();
    const d = decide(config, "e", { name: "s", policy: "selective", weight: 1 }, 0.55, 0.5);
    expect(d).toMatchObject({ route: "steered", threshold: 0.5 });
  });
  it("blocks above block_threshold", () => {
    const arm = { name: "b", policy: "selective" as const, weight: 1, block_threshold: 0.95 };
    expect(decide(config, "e", arm, 0.96, 0.5).route).toBe("blocked");
    expect(decide(config, "e", arm, 0.9, 0.5).route).toBe("steered");
  });
});

describe("route decision with a condition band", () => {
  const banded = parseConfig({
    steering: { profile: "refusal", strength: 1.5 },
    classifier: { condition_band: { low: 0.2, high: 0.6 } },
    experiments: [
      {
        name: "e",
        arms: [
          { name: "inherit", policy: "selective" },
          { name: "own", policy: "selective", condition_band: [0.05, 0.3], condition_threshold: 2.5, strength: 2, block_threshold: 0.25 },
          { name: "off", policy: "selective", condition_band: null, threshold: 0.4 },
          { name: "always", policy: "always" },
          { name: "never", policy: "never" },
        ],
      },
    ],
  });
  const [inherit, own, off, always, never] = banded.experiments[0].arms;
  const at = (arm: typeof inherit, risk: number) => decide(banded, "e", arm, risk, 0.5);
  // A hair below a band edge (a few ulps: strictly less).
  const below = (x: number) => x - Number.EPSILON * Math.max(1, x);

  it("routes [low, high) conditional, high and above steered, below low unsteered, at the edges exactly", () => {
    expect(at(inherit, below(0.2)).route).toBe("unsteered");
    expect(at(inherit, 0.2).route).toBe("conditional");
    expect(at(inherit, below(0.6)).route).toBe("conditional");
    expect(at(inherit, 0.6).route).toBe("steered");
    expect(at(inherit, 0).route).toBe("unsteered");
    expect(at(inherit, 1).route).toBe("steered");
  });

  it("uses the band's high as the threshold and carries the band", () => {
    expect(at(inherit, 0.3)).toMatchObject({ threshold: 0.6, band: { low: 0.2, high: 0.6 } });
    expect(at(off, 0.3)).toMatchObject({ route: "unsteered", threshold: 0.4, band: null });
    expect(at(off, 0.45).route).toBe("steered");
  });

  it("sends conditional steering on the conditional route only, with the threshold override when configured", () => {
    expect(at(inherit, 0.3).steering).toEqual({ profile: "refusal", strength: 1.5, conditional: true });
    expect(at(inherit, 0.7).steering).toEqual({ profile: "refusal", strength: 1.5 });
    expect(at(inherit, 0.1).steering).toBeNull();
    expect(at(own, 0.1).steering).toEqual({ profile: "refusal", strength: 2, conditional: true, condition_threshold: 2.5 });
    const global = parseConfig({ steering: { profile: "p", condition_threshold: -1 }, classifier: { condition_band: [0.2, 0.6] } });
    expect(decide(global, "d", defaultArm(), 0.3, 0.5).steering).toEqual({ profile: "p", strength: 1, conditional: true, condition_threshold: -1 });
  });

  it("lets block_threshold win over the band", () => {
    expect(at(own, 0.25).route).toBe("blocked");
    expect(at(own, below(0.25)).route).toBe("conditional");
    expect(at(own, 0.25).steering).toBeNull();
  });

  it("leaves always and never arms alone", () => {
    expect(at(always, 0.3)).toMatchObject({ route: "steered", band: null, threshold: null });
    expect(at(never, 0.3)).toMatchObject({ route: "unsteered", band: null, steering: null });
  });
});
