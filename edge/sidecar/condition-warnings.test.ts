import { describe, expect, it } from "vitest";
import { parseConfig } from "../config/index.ts";
import { bandedProfiles, ConditionWarningLog, conditionWarnings, noConditionWarning } from "./condition-warnings.ts";
import type { ProfileCondition } from "./profiles.ts";

const served = (entries: Record<string, boolean>) =>
  new Map<string, ProfileCondition>(Object.entries(entries).map(([name, has]) => [name, { hasCondition: has, conditionThreshold: has ? 1 : null }]));

describe("bandedProfiles", () => {
  it("is empty without a band", () => {
    expect(bandedProfiles(parseConfig({ steering: { profile: "refusal" } }))).toEqual(new Set());
  });

  it("takes the default arm's profile when no experiment covers every model", () => {
    expect(bandedProfiles(parseConfig({ steering: { profile: "refusal" }, classifier: { condition_band: [0.2, 0.6] } }))).toEqual(new Set(["refusal"]));
    const covered = parseConfig({
      steering: { profile: "refusal" },
      classifier: { condition_band: [0.2, 0.6] },
      experiments: [{ name: "e", arms: [{ name: "n", policy: "never" }] }],
    });
    expect(bandedProfiles(covered)).toEqual(new Set());
  });

  it("takes each banded arm's own profile, else steering.profile, and skips arms without a band", () => {
    const config = parseConfig({
      steering: { profile: "refusal" },
      experiments: [
        {
          name: "e",
          models: ["m"],
          arms: [
            { name: "own", policy: "selective", condition_band: [0.1, 0.5], profile: "plain" },
            { name: "default-profile", policy: "selective", condition_band: [0.1, 0.5] },
            { name: "no-band", policy: "selective", profile: "other" },
            { name: "always", policy: "always", profile: "another" },
          ],
        },
      ],
    });
    expect(bandedProfiles(config)).toEqual(new Set(["plain", "refusal"]));
  });
});

describe("condition warnings", () => {
  it("logs each profile and sidecar without a condition once, and once more when it is fixed", () => {
    const lines: string[] = [];
    const log = new ConditionWarningLog(new Set(["plain", "cond"]), (l) => lines.push(l));
    for (let round = 0; round < 3; round++) {
      log.observe("a:1", served({ plain: false, cond: true, unused: false }));
      log.observe("b:1", served({ cond: true }));
    }
    expect(lines).toEqual([`edge: warning: ${noConditionWarning("plain", "a:1")}`]);
    expect(lines[0]).toBe("edge: warning: condition band configured but profile plain on sidecar a:1 has no condition: in-band prompts are steered");
    // A round without the profile says nothing; one with a condition says it is fixed, once.
    log.observe("a:1", served({ cond: true }));
    log.observe("a:1", served({ plain: true }));
    log.observe("a:1", served({ plain: true }));
    expect(lines.slice(1)).toEqual(["edge: profile plain on sidecar a:1 now has a condition: in-band prompts are conditional again"]);
    log.observe("a:1", served({ plain: false }));
    expect(lines).toHaveLength(3);
  });

  it("lists /readyz warnings from the backend's healthy sidecars", () => {
    const backend = { withoutCondition: (p: string) => (p === "plain" ? ["a:1", "b:1"] : []) };
    expect(conditionWarnings(new Set(["plain", "cond"]), backend)).toEqual([noConditionWarning("plain", "a:1"), noConditionWarning("plain", "b:1")]);
    expect(conditionWarnings(new Set(["cond"]), backend)).toEqual([]);
    expect(conditionWarnings(new Set(["plain"]), {})).toEqual([]);
  });
});
