import { describe, expect, it } from "vitest";
import { ConfigError } from "./config/index.ts";
import { loadConfig } from "./setup.ts";

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
