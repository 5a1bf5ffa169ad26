/**
 * A model whose baked hook predates conditional steering (its manifest's SAE
 * entry has no `hookFormat`) gets its SAE attached again at load, and then
 * serves conditional requests; a current one is used as built. An SAE
 * attached at load leaves the model's weights in its files, inline or in
 * external data.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { GenerateRequest, type GenerateChunk } from "../../proto/gen/steerguard/v1/sidecar.ts";
import { SHARED_MODELS } from "../../test/support/models.ts";
import { tempDir } from "../../test/support/tmp.ts";
import { Engine } from "../engine/engine.ts";
import { buildModel } from "../model/build.ts";
import { readManifest, writeManifest } from "../model/manifest.ts";
import { readHookRecords, setHookRecords } from "./hook.ts";
import { HOOK_FORMAT } from "./names.ts";
import { loadProfiles, prepareModel } from "./registry.ts";
import { readModelProto, writeModelProto, type ModelProto } from "./surgery.ts";
import { OnnxDecoder } from "../engine/decoder.ts";
import { layerStepInputs } from "./inputs.ts";
import { hookPrefix, steerCond, steerCondThreshold, steerCondWeights } from "./names.ts";
import { writeStoriesProfiles } from "./test-support.ts";
import { writeFileSync } from "node:fs";
import { onnx } from "../model/graph/onnx-builder.ts";

/**
 * Turns the hook at `layer` back into its form before conditional steering
 * (HOOK_FORMAT 1): no cond_weights / cond_threshold inputs, no cond output,
 * the mask gate AND position only.
 */
function toOldHook(model: ModelProto, layer: number): void {
  const p = hookPrefix(layer);
  const g = model.graph!;
  const drop = new Set([steerCondWeights(layer), steerCondThreshold(layer), steerCond(layer), `${p}.no_cond`]);
  g.input = g.input!.filter((i) => !drop.has(i.name!));
  g.output = g.output!.filter((o) => !drop.has(o.name!));
  g.initializer = g.initializer!.filter((t) => !drop.has(t.name!));
  const ifNode = g.node!.find((n) => n.name === `${p}/if`)!;
  ifNode.output = ifNode.output!.slice(0, 2);
  for (const a of ifNode.attribute!) {
    const body = a.g!;
    body.output = body.output!.slice(0, 2);
    body.node = body.node!.filter((n) => !n.name!.startsWith(`${p}/cond/`) && n.name !== `${p}/then/cond` && n.name !== `${p}/else/cond`);
    const mask = body.node.find((n) => n.name === `${p}/gate/mask`);
    if (mask) Object.assign(mask, { opType: "Identity", input: [mask.input![0]!] });
  }
}

describe("hooks from before conditional steering", () => {
  it("are attached again at load; current ones are used as built", async () => {
    const dir = tempDir("sg-registry-");
    const { refusal } = writeStoriesProfiles(dir);
    const condFile = join(dir, "refusal-if.json");
    writeFileSync(condFile, JSON.stringify({ ...refusal, name: "refusal-if", condition: { features: [{ index: 40, weight: 1 }], threshold: 0 } }));
    const out = join(dir, "model");
    await buildModel({ from: join(SHARED_MODELS, "stories260K"), out, hookLayers: [2], saes: [{ dir: join(dir, "sae-jump") }] });
    const file = join(out, "model.onnx");
    const model = readModelProto(file);
    // A current build records the hook's format in the graph's metadata and in the manifest.
    expect(readHookRecords(model)).toEqual([expect.objectContaining({ format: HOOK_FORMAT, layer: 2 })]);
    const manifest = readManifest(out);
    expect(manifest.saes).toEqual([expect.objectContaining({ layer: 2, hookFormat: HOOK_FORMAT })]);
    const profiles = loadProfiles({ files: [condFile] }, manifest);
    expect(prepareModel(out, manifest, profiles.values())).toMatchObject({ attached: [], outdated: [] });

    // The same model as an older build made it: no condition in the hook, no format in its record or manifest.
    toOldHook(model, 2);
    setHookRecords(model, readHookRecords(model).map(({ format: _, ...r }) => r));
    writeModelProto(model, file, out);
    const oldManifest = { ...manifest, saes: manifest.saes!.map(({ hookFormat: _, ...s }) => s) };
    writeManifest(out, oldManifest);
    const prepared = prepareModel(out, oldManifest, profiles.values());
    expect(prepared).toMatchObject({ attached: [2], outdated: [2] });
    // Opened as it is, the old hook still steers plainly, and says why it cannot steer conditionally.
    const old = await OnnxDecoder.load(out, oldManifest);
    try {
      expect(old.steerLayers).toEqual([2]);
      expect([...old.condLayers]).toEqual([]);
      const ids = [1, 403, 407];
      const row = { features: refusal.features, strength: 1, positions: "generated" as const, promptLength: 3 };
      const steered = await old.prefill(ids, { steering: { 2: layerStepInputs([row], 3, [0]) } });
      const plain = await old.prefill(ids);
      expect(steered.logits).not.toEqual(plain.logits);
      await expect(old.prefill(ids, { steering: { 2: layerStepInputs([{ ...row, condition: { features: [{ index: 40, weight: 1 }], threshold: 0 } }], 3, [0]) }, cond: [2] })).rejects.toThrow(/predates conditional steering/);
    } finally {
      await old.release();
    }

    const warnings: string[] = [];
    const engine = await Engine.load(out, { profiles: [condFile], warn: (m) => warnings.push(m) });
    expect(warnings).toEqual([expect.stringMatching(/the SAE hook at layer 2 predates conditional steering; attached again at load/)]);
    try {
      const req = GenerateRequest.fromPartial({ input: { $case: "prompt", value: "Once upon a time" }, sampling: { temperature: 0, maxTokens: 4 }, steering: { profile: "refusal-if", conditional: true } });
      const chunks: GenerateChunk[] = [];
      for await (const c of engine.generate(req, new AbortController().signal)) chunks.push(c);
      expect(chunks[0]!.condition).toBeDefined();
    } finally {
      await engine.close();
    }
  });
});

describe("SAEs attached at load", () => {
  it("leave the weights in the model folder's files, inline or external data alike, and steer the same", async () => {
    const dir = tempDir("sg-registry-refs-");
    const { refusal } = writeStoriesProfiles(dir);
    const logits: Float32Array[][] = [];
    for (const externalData of ["never", "always"] as const) {
      const out = join(dir, externalData);
      await buildModel({ from: join(SHARED_MODELS, "stories260K"), out, externalData });
      const manifest = readManifest(out);
      expect(manifest.graph.externalData !== null).toBe(externalData === "always");
      const prepared = prepareModel(out, manifest, loadProfiles({ files: [join(dir, "refusal.json")] }, manifest).values());
      expect(prepared.attached).toEqual([2]);
      // The bytes hold the hook and the SAE, not the model's weights.
      const graph = onnx.ModelProto.decode(prepared.model as Uint8Array).graph!;
      const inline = graph.initializer!.filter((t) => !t.name!.startsWith(hookPrefix(2))).reduce((n, t) => n + (t.rawData?.byteLength ?? 0), 0);
      expect(inline).toBeLessThan(64 * 1024);
      const decoder = await OnnxDecoder.load(out, prepared.manifest, {}, prepared.model);
      try {
        const ids = [1, 403, 407, 290];
        const row = { features: refusal.features, strength: 1.5, positions: "all" as const, promptLength: ids.length };
        const steered = await decoder.prefill(ids, { steering: { 2: layerStepInputs([row], ids.length, [0]) } });
        const plain = await decoder.prefill(ids);
        expect(steered.logits).not.toEqual(plain.logits);
        logits.push([plain.logits, steered.logits]);
      } finally {
        await decoder.release();
      }
    }
    expect(logits[1]).toEqual(logits[0]);
  });
});
