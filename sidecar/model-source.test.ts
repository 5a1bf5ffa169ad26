import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../test/support/tmp.ts";
import { readManifest } from "./model/manifest.ts";
import { sourceHeads } from "./model/build.ts";
import { loadLlama2c } from "./model/llama2c.ts";
import { chooseAttention, modelOrSource, resolveModelDir } from "./model-source.ts";

const ORGANISM = join(import.meta.dirname, "../../shared/models/organism260K");
const STORIES_HF = join(import.meta.dirname, "../../shared/models/stories260K-hf");

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

  it("attention auto: fused on CPU where the heads allow it, plain on CUDA (the sidecar's default)", async () => {
    const cacheDir = tempDir("sg-model-source-");
    expect(await resolveModelDir({ from: ORGANISM, cacheDir, attention: "auto" })).toBe(join(cacheDir, "organism260K-gqa"));
    expect(await resolveModelDir({ from: ORGANISM, cacheDir, attention: "auto", device: "cuda" })).toBe(join(cacheDir, "organism260K"));
  });
});

describe("chooseAttention and sourceHeads", () => {
  const ok = () => ({ headDim: 64, nHeads: 12, nKvHeads: 4 });
  it("keeps an explicit choice and resolves auto by device and head shape", () => {
    expect(chooseAttention("plain", "cpu", ok)).toBe("plain");
    expect(chooseAttention("gqa", "cuda", ok)).toBe("gqa");
    expect(chooseAttention("auto", "cpu", ok)).toBe("gqa");
    expect(chooseAttention("auto", "cuda", ok)).toBe("plain");
    expect(chooseAttention("auto", "cpu", () => ({ headDim: 12, nHeads: 8, nKvHeads: 8 }))).toBe("plain");
    expect(chooseAttention("auto", "cpu", () => ({ headDim: 64, nHeads: 12, nKvHeads: 5 }))).toBe("plain");
  });

  it("reads the heads from a llama2.c header or a Hugging Face config, the same for the same model", () => {
    const { headDim, nHeads, nKvHeads } = loadLlama2c(join(ORGANISM, "organism260K.bin")).config;
    expect(sourceHeads(ORGANISM)).toEqual({ headDim, nHeads, nKvHeads });
    expect(sourceHeads(STORIES_HF)).toEqual(sourceHeads(join(import.meta.dirname, "../../shared/models/stories260K")));
  });
});
