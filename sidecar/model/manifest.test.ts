import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BUILDER_VERSION, MANIFEST_FORMAT, readManifest, writeManifest, type Manifest } from "./manifest.ts";
import { tempDir } from "../../test/support/tmp.ts";

const example: Manifest = {
  format: MANIFEST_FORMAT,
  builderVersion: BUILDER_VERSION,
  id: "m",
  architecture: "llama",
  source: { kind: "hf", path: "/src", sha256: { "config.json": "ab" }, modelType: "qwen2" },
  dims: { vocabSize: 50, dModel: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 8, hiddenDim: 48, contextLength: 64, ropeTheta: 1e6, rmsNormEps: 1e-6 },
  graph: { file: "model.onnx", externalData: null, opset: 17, sourceRotary: "half", tiedEmbeddings: false, qkvBias: true, residualOutputs: false, precision: { weights: "fp32", blockSize: null } },
  tokenizer: { kind: "hf", files: ["tokenizer.json"], bosId: null, eosId: 2, eosIds: [2, 3], addBos: false },
  chatTemplate: null,
  specialTokens: [{ id: 2, text: "<|endoftext|>" }],
  residualTensors: ["/model/layers.0/resid_post", "/model/layers.1/resid_post"],
  hookedLayers: [],
};

describe("manifest", () => {
  it("round-trips through manifest.json", () => {
    const dir = tempDir("sg-man-");
    writeManifest(dir, example);
    expect(readManifest(dir)).toEqual(example);
  });

  it("names the invalid fields", () => {
    const dir = tempDir("sg-man-");
    writeFileSync(join(dir, "manifest.json"), JSON.stringify({ ...example, dims: { ...example.dims, nLayers: 0 }, format: "other" }));
    expect(() => readManifest(dir)).toThrow(/manifest\.json: invalid manifest: format: .*; dims\.nLayers: /);
    expect(() => readManifest(join(dir, "missing"))).toThrow(/cannot read manifest/);
  });
});
