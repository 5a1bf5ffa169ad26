import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { applyEnv, ConfigError, experimentFor, parseConfig, parseConfigText, parseSidecarList } from "./index.ts";

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
