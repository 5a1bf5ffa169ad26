/** `npm run generate -- --profile FILE [--strength S] [--conditional [--condition-threshold X]] [--probe]` as a real process. */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { builtModel } from "../../test/support/models.ts";
import { REPO_ROOT } from "../../test/support/process.ts";
import { saveSaeLens } from "../sae/load.ts";
import { randomSae } from "./test-support.ts";
import { tempDir } from "../../test/support/tmp.ts";

function generate(args: string[]) {
  return spawnSync(process.execPath, ["--import", "tsx", "scripts/generate.ts", ...args], { cwd: REPO_ROOT, encoding: "utf8", timeout: 60_000 });
}

describe("generate CLI with a steering profile", () => {
  it("steers (with logprobs), probes, and names a bad profile's file and field", async () => {
    const model = await builtModel("stories260K");
    const dir = tempDir("sg-steer-cli-");
    saveSaeLens(join(dir, "sae"), randomSae("relu", 64, 32, 4, { layer: 1 }));
    const profile = join(dir, "p.json");
    writeFileSync(profile, JSON.stringify({ name: "p", sae: "sae", layer: 1, positions: "all", features: [{ index: 3, mode: "add", value: 20 }] }));
    const base = ["--model", model, "--prompt", "Once upon a time", "--max-tokens", "8", "--json", "--logprobs", "2"];
    const plain = generate(base);
    const steered = generate([...base, "--profile", profile, "--strength", "1.5"]);
    expect(steered.status, steered.stderr).toBe(0);
    expect(steered.stderr).toContain("steering: profile p, strength 1.5, applied true");
    const tokens = (out: string) => out.trim().split("\n").map((l) => JSON.parse(l) as { token: number; logprobs: unknown[] });
    expect(tokens(steered.stdout).every((l) => l.logprobs.length === 2)).toBe(true);
    expect(tokens(steered.stdout).map((l) => l.token)).not.toEqual(tokens(plain.stdout).map((l) => l.token));

    const probe = generate(["--model", model, "--prompt", "Once upon a time", "--profile", profile, "--probe"]);
    expect(probe.status, probe.stderr).toBe(0);
    const res = JSON.parse(probe.stdout) as { profile: string; promptTokens: number; features: { index: number; layer: number; last: number; mean: number; max: number }[] };
    expect(res.profile).toBe("p");
    expect(res.features).toHaveLength(1);
    expect(res.features[0]).toMatchObject({ index: 3, layer: 1 });
    expect(res.features[0]!.max).toBeGreaterThanOrEqual(res.features[0]!.mean);

    // Conditional: the probe's condition value decides; thresholds either side of it steer or not.
    const cond = join(dir, "c.json");
    writeFileSync(cond, JSON.stringify({ name: "c", sae: "sae", layer: 1, positions: "generated", features: [{ index: 3, mode: "add", value: 20 }], condition: { features: [{ index: 5, weight: 1 }, { index: 3, weight: 0.5 }], threshold: 0 } }));
    const condProbe = generate(["--model", model, "--prompt", "Once upon a time", "--profile", cond, "--probe"]);
    expect(condProbe.status, condProbe.stderr).toBe(0);
    const { condition } = JSON.parse(condProbe.stdout) as { condition: { value: number; threshold: number; steer: boolean } };
    expect(condition).toMatchObject({ threshold: 0, steer: condition.value >= 0 });
    const condBase = [...base, "--profile", cond, "--conditional", "--condition-threshold"];
    const holds = generate([...condBase, String(condition.value - 0.01)]);
    const fails = generate([...condBase, String(condition.value + 0.01)]);
    const steeredC = generate([...base, "--profile", cond]);
    expect(holds.status, holds.stderr).toBe(0);
    expect(holds.stderr).toMatch(new RegExp(`condition: value ${condition.value} >= threshold \\S+: steered\n`));
    expect(holds.stderr).toContain("steering: profile c, strength 1, conditional, applied true");
    expect(fails.stderr).toMatch(/: not steered\n/);
    expect(fails.stderr).toContain("applied false");
    expect(tokens(holds.stdout).map((l) => l.token)).toEqual(tokens(steeredC.stdout).map((l) => l.token));
    expect(tokens(fails.stdout).map((l) => l.token)).toEqual(tokens(plain.stdout).map((l) => l.token));
    expect(tokens(steeredC.stdout).map((l) => l.token)).not.toEqual(tokens(plain.stdout).map((l) => l.token));
    const noCond = generate([...base, "--profile", profile, "--conditional"]);
    expect(noCond.status).toBe(2);
    expect(noCond.stderr).toContain(`--conditional: ${profile} has no "condition"`);

    writeFileSync(profile, JSON.stringify({ name: "p", sae: "sae", layer: 1, positions: "all", features: [{ index: 3, mode: "boost", value: 1 }] }));
    const bad = generate([...base, "--profile", profile]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain(`${profile}: invalid steering profile: features.0.mode`);
  });
});
