import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../test/support/tmp.ts";
import { readManifest } from "./model/manifest.ts";
import { modelOrSource, resolveModelDir } from "./model-source.ts";

const ORGANISM = join(import.meta.dirname, "../../shared/models/organism260K");

describe("resolveModelDir", () => {
  it("builds a --from checkpoint once per precision, into NAME or NAME-PRECISION, and reuses current builds", async () => {
    const cacheDir = tempDir("sg-model-source-");
    const logs: string[] = [];
    const log = (m: string) => logs.push(m);
    const fp32 = await resolveModelDir({ from: ORGANISM, cacheDir, log });
    const int4 = await resolveModelDir({ from: ORGANISM, cacheDir, weights: "int4", log });
    expect(fp32).toBe(join(cacheDir, "organism260K"));
    expect(int4).toBe(join(cacheDir, "organism260K-int4"));
    expect(readManifest(fp32).graph.precision.weights).toBe("fp32");
    expect(readManifest(int4).graph.precision).toEqual({ weights: "int4", blockSize: 32 });
    expect(logs.filter((l) => l.startsWith("building")).length).toBe(2);
    await resolveModelDir({ from: ORGANISM, cacheDir, weights: "int4", log });
    expect(logs.filter((l) => l.startsWith("building")).length).toBe(2); // current: not rebuilt
    expect(modelOrSource(int4)).toEqual({ model: int4 });
  });

  it("builds fused attention into NAME-gqa (NAME-PRECISION-gqa), apart from the plain build", async () => {
    const cacheDir = tempDir("sg-model-source-");
    const plain = await resolveModelDir({ from: ORGANISM, cacheDir });
    const gqa = await resolveModelDir({ from: ORGANISM, cacheDir, attention: "gqa" });
    const int8 = await resolveModelDir({ from: ORGANISM, cacheDir, weights: "int8", attention: "gqa" });
    expect([gqa, int8]).toEqual([join(cacheDir, "organism260K-gqa"), join(cacheDir, "organism260K-int8-gqa")]);
    expect(readManifest(plain).graph.attention ?? "plain").toBe("plain");
    expect(readManifest(gqa).graph.attention).toBe("gqa");
    expect(readManifest(int8).graph).toMatchObject({ attention: "gqa", precision: { weights: "int8" } });
  });
});
