import { describe, expect, it } from "vitest";
import { startFakeSidecar } from "../test/support/fake-sidecar.ts";
import { waitFor } from "../test/support/wait.ts";
import { ConfigError, parseConfig } from "./config/index.ts";
import { buildEdge, loadConfig } from "./setup.ts";

describe("loadConfig", () => {
  const read = (json: unknown) => async () => JSON.stringify(json);
  const banded = { classifier: { condition_band: [0.2, 0.6] } };

  it("refuses a condition band without a steering profile, once the environment had its say", async () => {
    const env = { STEERGUARD_CONFIG: "edge.json" };
    await expect(loadConfig(env, read(banded))).rejects.toThrow(ConfigError);
    await expect(loadConfig(env, read(banded))).rejects.toThrow(/condition band needs a steering profile/);
    const c = await loadConfig({ ...env, STEERGUARD_STEERING_PROFILE: "refusal" }, read(banded));
    expect(c.classifier.condition_band).toEqual({ low: 0.2, high: 0.6 });
    expect((await loadConfig(env, read({ ...banded, steering: { profile: "refusal" } }))).steering.profile).toBe("refusal");
  });

  it("names the file in a band that does not validate", async () => {
    await expect(loadConfig({ STEERGUARD_CONFIG: "edge.json" }, read({ classifier: { condition_band: [0.6, 0.2] } }))).rejects.toThrow(
      /edge\.json: invalid config:\n {2}classifier\.condition_band: low must be below high/,
    );
  });
});

describe("buildEdge", () => {
  it("logs once that a banded profile has no condition on a sidecar, from the health rounds' Info", async () => {
    const fake = await startFakeSidecar({ profiles: [{ name: "plain", hasCondition: false }, { name: "refusal", hasCondition: true, conditionThreshold: 1 }] });
    const lines: string[] = [];
    const config = parseConfig({
      sidecars: [fake.address],
      auth: { disabled: true },
      sidecar: { health_interval_ms: 50 },
      steering: { profile: "refusal" },
      classifier: { condition_band: [0.2, 0.6] },
      experiments: [
        {
          name: "e",
          arms: [
            { name: "plain", policy: "selective", profile: "plain" },
            { name: "own", policy: "selective" },
          ],
        },
      ],
    });
    const edge = await buildEdge(config, {}, (l) => lines.push(l));
    try {
      const want = `edge: warning: condition band configured but profile plain on sidecar ${fake.address} has no condition: in-band prompts are steered`;
      await waitFor("the warning", () => (lines.includes(want) ? true : undefined));
      // Several more health rounds: still said once; the profile with a condition is not named.
      await new Promise((r) => setTimeout(r, 300));
      expect(lines.filter((l) => l.includes("has no condition"))).toEqual([want]);
      expect(edge.deps.sidecar.ready()).toBe(true);
    } finally {
      await edge.close();
      await fake.close();
    }
  });
});
