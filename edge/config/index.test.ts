import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { applyEnv, bandOf, checkConditionalProfiles, ConfigError, experimentFor, parseConfig, parseConfigText, parseSidecarList } from "./index.ts";

describe("config", () => {
  it("fills every default from {}", () => {
    const c = parseConfig({});
    expect(c.sidecars).toEqual(["127.0.0.1:50051"]);
    expect(c.limits.max_body_bytes).toBe(1_048_576);
    expect(c.limits.body_timeout_ms).toBe(10_000);
    expect(c.shutdown.grace_ms).toBe(10_000);
    expect(c.steering).toEqual({ profile: "", strength: 1 });
    expect(c.failure.risky).toBe("refuse");
    expect(c.events.include_text).toBe(false);
  });

  it("parses the committed example", () => {
    const c = parseConfigText(readFileSync(new URL("./example.json", import.meta.url), "utf8"), "example.json");
    expect(c.experiments.length).toBeGreaterThan(0);
    expect(c.experiments[0].arms.map((a) => a.policy)).toEqual(expect.arrayContaining(["never", "always", "selective"]));
    // It can be run as it is: its banded arm has a steering profile to send.
    expect(c.experiments[0].arms.some((a) => a.condition_band)).toBe(true);
    expect(() => checkConditionalProfiles(c)).not.toThrow();
  });

  it("lists every problem with its path", () => {
    expect(() =>
      parseConfig({ sidecars: [], classifier: { threshold: 2 }, experiments: [{ name: "e", arms: [{ name: "a b", policy: "sometimes" }] }] }),
    ).toThrowError(ConfigError);
    try {
      parseConfig({ classifier: { threshold: 2 }, experiments: [{ name: "e", arms: [{ name: "a", policy: "sometimes" }] }] });
    } catch (err) {
      expect((err as Error).message).toContain("classifier.threshold");
      expect((err as Error).message).toContain("experiments.0.arms.0.policy");
    }
  });

  it("takes trusted system prompts as hex SHA-256s (none by default) and names a bad one", () => {
    expect(parseConfig({}).classifier.trusted_system_prompts).toEqual([]);
    const h = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    expect(parseConfig({ classifier: { trusted_system_prompts: [h] } }).classifier.trusted_system_prompts).toEqual([h]);
    expect(() => parseConfig({ classifier: { trusted_system_prompts: [h, "You are a helpful assistant."] } })).toThrow(/classifier\.trusted_system_prompts\.1.*64 hex digits/);
  });

  it("rejects bad JSON and duplicate arm names", () => {
    expect(() => parseConfigText("{", "x.json")).toThrow(/x.json: not valid JSON/);
    expect(() => parseConfig({ experiments: [{ name: "e", arms: [{ name: "a", policy: "never" }, { name: "a", policy: "always" }] }] })).toThrow(/unique/);
  });

  it("takes sidecar addresses from STEERGUARD_SIDECARS", () => {
    expect(applyEnv(parseConfig({}), { STEERGUARD_SIDECARS: "a:1, b:2" }).sidecars).toEqual(["a:1", "b:2"]);
    expect(applyEnv(parseConfig({}), { STEERGUARD_SIDECARS: " , " }).sidecars).toEqual(["127.0.0.1:50051"]);
    expect(applyEnv(parseConfig({}), {}).sidecars).toEqual(["127.0.0.1:50051"]);
    expect(applyEnv(parseConfig({ steering: { strength: 2 } }), { STEERGUARD_STEERING_PROFILE: "refusal" }).steering).toEqual({ profile: "refusal", strength: 2 });
  });

  it("takes sidecar.tls from the config and the STEERGUARD_SIDECAR_TLS_* variables, all three files together", () => {
    const tls = { ca: "/c/ca.crt", cert: "/c/edge.crt", key: "/c/edge.key" };
    expect(parseConfig({ sidecar: { tls } }).sidecar.tls).toEqual(tls);
    expect(parseConfig({}).sidecar.tls).toBeUndefined();
    expect(() => parseConfig({ sidecar: { tls: { ca: "/c/ca.crt", cert: "/c/edge.crt" } } })).toThrow(/sidecar\.tls\.key/);
    expect(() => parseConfig({ sidecar: { tls: { ...tls, cert: "" } } })).toThrow(/sidecar\.tls\.cert/);
    const env = { STEERGUARD_SIDECAR_TLS_CA: "/e/ca.crt", STEERGUARD_SIDECAR_TLS_CERT: "/e/tls.crt", STEERGUARD_SIDECAR_TLS_KEY: "/e/tls.key", STEERGUARD_SIDECAR_TLS_SERVER_NAME: "sidecar.ns.svc" };
    expect(applyEnv(parseConfig({}), env).sidecar.tls).toEqual({ ca: "/e/ca.crt", cert: "/e/tls.crt", key: "/e/tls.key", server_name: "sidecar.ns.svc" });
    // The environment's fields over the config's; the rest of sidecar unchanged.
    const merged = applyEnv(parseConfig({ sidecar: { tls, deadline_ms: 5 } }), { STEERGUARD_SIDECAR_TLS_CERT: "/e/tls.crt", STEERGUARD_SIDECAR_TLS_KEY: " " });
    expect(merged.sidecar).toMatchObject({ deadline_ms: 5, tls: { ...tls, cert: "/e/tls.crt" } });
    expect(() => applyEnv(parseConfig({}), { STEERGUARD_SIDECAR_TLS_CERT: "/e/tls.crt" })).toThrow(
      new ConfigError("sidecar TLS: STEERGUARD_SIDECAR_TLS_CA (sidecar.tls.ca), STEERGUARD_SIDECAR_TLS_KEY (sidecar.tls.key) missing: ca, cert and key go together"),
    );
  });

  it("keeps a grpc ipv4:/ipv6: address list in STEERGUARD_SIDECARS together as one target", () => {
    expect(parseSidecarList("ipv4:10.0.0.1:50051,10.0.0.2:50051")).toEqual(["ipv4:10.0.0.1:50051,10.0.0.2:50051"]);
    expect(parseSidecarList("ipv4:10.0.0.1:1, 10.0.0.2:1; c:3")).toEqual(["ipv4:10.0.0.1:1,10.0.0.2:1", "c:3"]);
    expect(parseSidecarList("ipv6:[::1]:1,[::1]:2,dns:///side.local:3,d:4")).toEqual(["ipv6:[::1]:1,[::1]:2", "dns:///side.local:3", "d:4"]);
    expect(parseSidecarList("a:1,ipv4:10.0.0.1:1;b:2,c:3")).toEqual(["a:1", "ipv4:10.0.0.1:1", "b:2", "c:3"]);
    expect(parseSidecarList("")).toEqual([]);
  });

  it("picks the first experiment whose models match", () => {
    const c = parseConfig({
      experiments: [
        { name: "m1", models: ["m1"], arms: [{ name: "a", policy: "never" }] },
        { name: "all", arms: [{ name: "a", policy: "always" }] },
      ],
    });
    expect(experimentFor(c, "m1")?.name).toBe("m1");
    expect(experimentFor(c, "m2")?.name).toBe("all");
  });
});

describe("condition band", () => {
  const exp = (arms: unknown[], extra: Record<string, unknown> = {}) => ({ ...extra, experiments: [{ name: "e", arms }] });
  const problem = (input: unknown): string => {
    try {
      parseConfig(input);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as Error).message;
    }
    throw new Error("the config was accepted");
  };

  it("is off by default, and takes {low, high} or [low, high]", () => {
    expect(parseConfig({}).classifier.condition_band).toBeUndefined();
    expect(parseConfig({ classifier: { condition_band: { low: 0.2, high: 0.7 } } }).classifier.condition_band).toEqual({ low: 0.2, high: 0.7 });
    expect(parseConfig({ classifier: { condition_band: [0, 1] } }).classifier.condition_band).toEqual({ low: 0, high: 1 });
    const c = parseConfig(exp([{ name: "s", policy: "selective", condition_band: [0.1, 0.5], condition_threshold: 3 }]));
    expect(c.experiments[0].arms[0]).toMatchObject({ condition_band: { low: 0.1, high: 0.5 }, condition_threshold: 3 });
  });

  it("rejects a band that is not 0 <= low < high <= 1, naming the field", () => {
    expect(problem({ classifier: { condition_band: [0.5, 0.5] } })).toMatch(/classifier\.condition_band: low must be below high/);
    expect(problem({ classifier: { condition_band: { low: 0.7, high: 0.2 } } })).toMatch(/classifier\.condition_band: low must be below high/);
    expect(problem({ classifier: { condition_band: { low: -0.1, high: 0.2 } } })).toMatch(/classifier\.condition_band\.low: .*>=0/);
    expect(problem({ classifier: { condition_band: [0.1] } })).toMatch(/classifier\.condition_band: must be \{"low": L, "high": H\} or \[L, H\]/);
    expect(problem({ classifier: { condition_band: { low: 0.1 } } })).toMatch(/classifier\.condition_band: must be/);
    expect(problem(exp([{ name: "s", policy: "selective", condition_band: [0.3, 1.5] }]))).toMatch(/experiments\.0\.arms\.0\.condition_band: must be/);
  });

  it("gives a band only to selective arms", () => {
    expect(problem(exp([{ name: "a", policy: "always", condition_band: [0.1, 0.5] }]))).toContain(
      'experiments.0.arms.0.condition_band: only selective arms have a condition band (arm "a" is "always")',
    );
    // null (no band) is fine on any arm.
    expect(() => parseConfig(exp([{ name: "n", policy: "never", condition_band: null }]))).not.toThrow();
  });

  it("refuses an arm threshold under a band (its high is the threshold), own or inherited, unless the arm opts out", () => {
    expect(problem(exp([{ name: "s", policy: "selective", threshold: 0.6, condition_band: [0.2, 0.8] }]))).toContain(
      'experiments.0.arms.0.threshold: arm "s" has a condition band (its condition_band: [0.2, 0.8)) whose high is its steering threshold',
    );
    expect(problem(exp([{ name: "s", policy: "selective", threshold: 0.6 }], { classifier: { condition_band: [0.2, 0.8] } }))).toContain(
      "(classifier.condition_band: [0.2, 0.8))",
    );
    const c = parseConfig(exp([{ name: "s", policy: "selective", threshold: 0.6, condition_band: null }], { classifier: { condition_band: [0.2, 0.8] } }));
    expect(bandOf(c, c.experiments[0].arms[0])).toBeNull();
  });

  it("refuses condition_threshold on an arm without a band", () => {
    expect(problem(exp([{ name: "s", policy: "selective", condition_threshold: 2 }]))).toContain(
      'experiments.0.arms.0.condition_threshold: arm "s" has no condition band',
    );
  });

  it("finds each arm's band: its own, else the classifier's for selective arms, null to opt out", () => {
    const c = parseConfig(
      exp(
        [
          { name: "own", policy: "selective", condition_band: [0.1, 0.3] },
          { name: "inherit", policy: "selective" },
          { name: "off", policy: "selective", condition_band: null },
          { name: "always", policy: "always" },
        ],
        { classifier: { condition_band: { low: 0.2, high: 0.9 } } },
      ),
    );
    expect(c.experiments[0].arms.map((a) => bandOf(c, a))).toEqual([{ low: 0.1, high: 0.3 }, { low: 0.2, high: 0.9 }, null, null]);
  });

  it("needs a steering profile wherever a band applies, after the environment's overrides", () => {
    const c = parseConfig({ classifier: { condition_band: [0.2, 0.9] } });
    expect(() => checkConditionalProfiles(c)).toThrow(/classifier\.condition_band \(the default arm\): a condition band needs a steering profile/);
    expect(() => checkConditionalProfiles(applyEnv(c, { STEERGUARD_STEERING_PROFILE: "refusal" }))).not.toThrow();
    const arms = parseConfig(exp([{ name: "s", policy: "selective", condition_band: [0.2, 0.9] }, { name: "p", policy: "selective", condition_band: [0.2, 0.9], profile: "cond" }]));
    expect(() => checkConditionalProfiles(arms)).toThrow(/^experiments\.0\.arms\.0: a condition band/);
    expect(() => checkConditionalProfiles(parseConfig({}))).not.toThrow();
  });
});
