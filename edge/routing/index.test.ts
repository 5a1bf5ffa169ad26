import { describe, expect, it } from "vitest";
import { parseConfig } from "../config/index.ts";
import { assignArm, decide, hashUnit } from "./index.ts";

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
