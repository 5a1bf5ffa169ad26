import { describe, expect, it } from "vitest";
import { conditionFormula, spliceReport, withCondition } from "./condition-report.ts";

describe("condition in the profile and the report", () => {
  const cond = { features: [{ index: 865, weight: -1 }, { index: 396, weight: 0.4706 }], threshold: -0.4774, description: "d" };

  it("writes the formula with signs", () => {
    expect(conditionFormula(cond)).toBe("-1.000 * f865 + 0.471 * f396 >= -0.477");
    expect(conditionFormula({ features: [{ index: 3, weight: 1 }, { index: 9, weight: -0.25 }], threshold: 2 })).toBe("1.000 * f3 - 0.250 * f9 >= 2.000");
  });

  it("puts the condition before the description and keeps every other key in order; a second fit replaces the first", () => {
    const p = { name: "refusal", sae: "sae", layer: 3, positions: "generated", features: [{ index: 396, mode: "clamp", value: 4 }], description: "x" };
    const once = withCondition(p, cond);
    expect(Object.keys(once)).toEqual(["name", "sae", "layer", "positions", "features", "condition", "description"]);
    expect(once.condition).toEqual(cond);
    const twice = withCondition(once, { ...cond, threshold: 1 });
    expect(Object.keys(twice)).toEqual(Object.keys(once));
    expect((twice.condition as { threshold: number }).threshold).toBe(1);
    expect(Object.keys(withCondition({ name: "n" }, cond))).toEqual(["name", "condition"]);
  });

  it("splices the section before 'Profile written', replaces an earlier one, and rewrites the profile block", () => {
    const report = "# T\n\n## Pick\n\npick text\n\n## Profile written\n\n`p.json`:\n\n```json\n{\"old\": 1}\n```\n";
    const one = spliceReport(report, "## In-model condition\n\nfirst\n", { new: 2 });
    expect(one).toBe("# T\n\n## Pick\n\npick text\n\n## In-model condition\n\nfirst\n\n## Profile written\n\n`p.json`:\n\n```json\n{\n  \"new\": 2\n}\n```\n");
    const two = spliceReport(one, "## In-model condition\n\nsecond\n", { new: 3 });
    expect(two.match(/## In-model condition/g)).toHaveLength(1);
    expect(two).toContain("second");
    expect(two).not.toContain("first");
    expect(two).toContain("\"new\": 3");
    // no "Profile written" section: appended
    expect(spliceReport("# T\n\n## A\n\na\n", "## In-model condition\n\nc\n", {})).toBe("# T\n\n## A\n\na\n\n## In-model condition\n\nc\n\n");
  });
});
