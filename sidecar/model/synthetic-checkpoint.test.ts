import { cpSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../../test/support/tmp.ts";
import { buildModel } from "./build.ts";
import { openSafetensorsDir } from "./safetensors.ts";
import { syntheticTensors, writeSyntheticCheckpoint, type SyntheticSpec } from "./synthetic-checkpoint.ts";

const STORIES_HF = join(import.meta.dirname, "../../../shared/models/stories260K-hf");

describe("synthetic sharded checkpoints", () => {
  const spec: SyntheticSpec = { dModel: 64, nLayers: 3, nHeads: 4, nKvHeads: 2, hiddenDim: 128, vocabSize: 512, dtype: "BF16", shardBytes: 40_000 };

  it("are split into shards of at most shardBytes, indexed, and build (streamed) into a model", async () => {
    const dir = tempDir("sg-synth-");
    const ticks: number[] = [];
    const { shards, totalBytes } = writeSyntheticCheckpoint(dir, spec, (done) => ticks.push(done));
    const names = syntheticTensors(spec);
    expect(ticks.at(-1)).toBe(names.length);
    expect(shards.length).toBeGreaterThan(3);
    const biggestTensor = Math.max(...names.map((t) => t.shape.reduce((a, b) => a * b, 1) * 2));
    for (const s of shards) expect(s.bytes - statSync(join(dir, s.file)).size).toBe(0);
    for (const s of shards) expect(s.bytes).toBeLessThan(Math.max(spec.shardBytes, biggestTensor) + 20_000); // + header
    const { tensors } = openSafetensorsDir(dir);
    expect(tensors.size).toBe(names.length);
    expect(tensors.get("model.layers.2.mlp.down_proj.weight")!.dtype).toBe("BF16");
    expect([...tensors.values()].reduce((n, t) => n + t.length * 2, 0)).toBe(totalBytes);
    const q = tensors.get("model.layers.0.self_attn.q_proj.weight")!.load();
    expect(Math.max(...q.map(Math.abs))).toBeLessThanOrEqual(1 / 8); // uniform(-1/sqrt(64), 1/sqrt(64))
    expect(new Set(q).size).toBeGreaterThan(100);
    for (const f of ["tokenizer.json", "tokenizer_config.json"]) cpSync(join(STORIES_HF, f), join(dir, f));
    const out = tempDir("sg-synth-out-");
    const built = await buildModel({ from: dir, out, weights: "int8", externalData: "always" });
    expect(built.manifest.graph.externalData).toBe("model.onnx_data");
    expect(readdirSync(out)).toContain("model.onnx_data");
    expect(Object.keys(built.manifest.source.sha256).filter((f) => f.endsWith(".safetensors")).length).toBe(shards.length);
  });
});
