/**
 * Graph surgery (hook-model, attach-sae) gives the same graph as building
 * with the hook: same logits, steered and not.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { afterEach, describe, expect, it, vi } from "vitest";
import { main as attachMain } from "../../scripts/attach-sae.ts";
import { main as buildMain } from "../../scripts/build-model.ts";
import { main as benchMain } from "../../scripts/bench-steering.ts";
import { main as hookMain } from "../../scripts/hook-model.ts";
import { SHARED_MODELS } from "../../test/support/models.ts";
import { buildLlamaGraph } from "../model/graph/llama-graph.ts";
import { onnx } from "../model/graph/onnx-builder.ts";
import { residPost } from "../model/graph/names.ts";
import { emptyPast, maxAbsDiff, runStep } from "../model/graph/test-support.ts";
import { writeModel } from "../model/graph/write-model.ts";
import { readManifest } from "../model/manifest.ts";
import { randomLlama } from "../model/random-model.ts";
import { newKvCache, referenceForward } from "../model/reference.ts";
import type { LlamaConfig, LlamaWeights } from "../model/weights.ts";
import { saveSaeLens } from "../sae/load.ts";
import type { Sae } from "../sae/types.ts";
import { addHooksToBuilder, readHookRecords, removeHook } from "./hook.ts";
import { layerStepInputs, type RowSteering } from "./inputs.ts";
import { HOOK_FORMAT, steerInputs } from "./names.ts";
import type { SteeringFeature } from "./profile.ts";
import { fuseSkipNorms, opCounts, type FusionNaming } from "./fuse-skip-norm.ts";
import { steeringHook } from "./reference.ts";
import { detectResidualTensor, hookModel, readModelProto, saeDirHash, writeModelProto, type ModelProto } from "./surgery.ts";
import { randomSae, runSteeredStep, type SteerFeeds } from "./test-support.ts";
import { tempDir } from "../../test/support/tmp.ts";

const tmp = () => tempDir("sg-surgery-");
const PROMPT = [1, 17, 3, 42, 8, 25, 11];

/** Logits of a prefill and 3 decode steps at batch 2 (row 0 steered at `layer`, row 1 not). */
async function trace(file: string, c: LlamaConfig, layers: number[], row: RowSteering | null): Promise<Float32Array[]> {
  const s = await ort.InferenceSession.create(file, { graphOptimizationLevel: "all" });
  const feeds = (seq: number, start: number): SteerFeeds =>
    Object.fromEntries(layers.map((l, i) => [l, layerStepInputs([i === 0 ? row : null, null], seq, [start, start])]));
  const ids = [PROMPT, PROMPT.map((t) => (t * 7) % c.vocabSize)];
  let r = await runSteeredStep(s, c, ids, ids.map(() => PROMPT.map((_, i) => i)), ids.map(() => PROMPT.map(() => 1)), emptyPast(c, 2), feeds(PROMPT.length, 0));
  const out = r.logits.flat();
  let len = PROMPT.length;
  for (const tok of [5, 9, 2]) {
    r = await runSteeredStep(s, c, [[tok], [tok]], [[len], [len]], [Array(len + 1).fill(1), Array(len + 1).fill(1)], r.past, feeds(1, len));
    out.push(...r.logits.flat());
    len++;
  }
  await s.release();
  return out;
}

const same = (a: Float32Array[], b: Float32Array[]) => {
  expect(a.length).toBe(b.length);
  a.forEach((x, i) => expect(Buffer.compare(Buffer.from(x.buffer, x.byteOffset, x.byteLength), Buffer.from(b[i].buffer, b[i].byteOffset, b[i].byteLength))).toBe(0));
};

function steerRow(sae: Sae): RowSteering {
  return {
    features: ([{ index: 3, mode: "clamp", value: 5 }, { index: 7, mode: "scale", value: 2 }, { index: 11, mode: "add", value: -2 }] as SteeringFeature[]).filter((f) => f.index < sae.dSae),
    strength: 1.2,
    positions: "generated",
    promptLength: PROMPT.length,
  };
}

function writePlain(w: LlamaWeights, rename?: (l: number) => string): string {
  const g = buildLlamaGraph(w);
  if (rename) {
    for (const n of g.nodes) {
      n.input = n.input!.map((t) => (t.endsWith("/resid_post") ? rename(Number(/layers\.(\d+)/.exec(t)![1])) : t));
      n.output = n.output!.map((t) => (t.endsWith("/resid_post") ? rename(Number(/layers\.(\d+)/.exec(t)![1])) : t));
    }
  }
  const file = join(tmp(), "model.onnx");
  writeModel(g, file);
  return file;
}

function writeHooked(w: LlamaWeights, layer: number, sae: Sae | null): string {
  const g = buildLlamaGraph(w);
  addHooksToBuilder(g, [{ layer, sae }], residPost, w.config.dModel);
  const file = join(tmp(), "model.onnx");
  writeModel(g, file);
  return file;
}

describe("graph surgery", () => {
  const w = randomLlama({ nLayers: 3, rotary: "interleaved" }, 7);
  const c = w.config;

  it.each(["relu", "jumprelu", "topk"] as const)("on our own export without the hook: same logits as building with it (%s)", async (arch) => {
    const sae = randomSae(arch, c.dModel, 48, 5);
    const built = writeHooked(w, 1, sae);
    const model = readModelProto(writePlain(w));
    expect(detectResidualTensor(model, 1)).toBe(residPost(1));
    hookModel(model, { layer: 1, sae });
    const file = join(tmp(), "model.onnx");
    writeModelProto(model, file, tmp());
    const a = await trace(built, c, [1], steerRow(sae));
    const b = await trace(file, c, [1], steerRow(sae));
    same(a, b);
    // and steering did something
    const plain = await trace(built, c, [1], null);
    expect(a.some((x, i) => x.some((v, j) => Math.abs(v - plain[i][j]) > 1e-3))).toBe(true);
  });

  it("detects Optimum / transformers.js naming (/model/layers.L/Add_1_output_0)", async () => {
    const sae = randomSae("relu", c.dModel, 32, 8);
    const model = readModelProto(writePlain(w, (l) => `/model/layers.${l}/Add_1_output_0`));
    expect(detectResidualTensor(model, 2)).toBe("/model/layers.2/Add_1_output_0");
    expect(() => detectResidualTensor(readModelProto(writePlain(w, (l) => `/model/layers.${l}/weird`)), 2)).toThrow(/tried .*resid_post.*Add_1_output_0.*--tensor/);
    hookModel(model, { layer: 2, sae });
    const file = join(tmp(), "model.onnx");
    writeModelProto(model, file, tmp());
    same(await trace(file, c, [2], steerRow(sae)), await trace(writeHooked(w, 2, sae), c, [2], steerRow(sae)));
  });

  it("says why detection failed", () => {
    const model = onnx.ModelProto.create({ graph: { node: [{ opType: "If", name: "/model/use_cache", input: ["c"], output: ["y"] }] } });
    expect(() => detectResidualTensor(model, 2)).toThrow(/tried .*resid_post.*Add_1_output_0.*layers\.3\/input_layernorm\/output_3.*fused Skip\*LayerNormalization.*If nodes \(a merged decoder\?\)/);
  });

  it("replaces a layer's SAE in place and removes hooks cleanly", async () => {
    const first = randomSae("relu", c.dModel, 32, 1);
    const second = randomSae("topk", c.dModel, 40, 2, { k: 5 });
    const model = readModelProto(writeHooked(w, 1, first));
    expect(readHookRecords(model)).toEqual([]); // the builder path records hooks in build.ts's metadata, not here
    hookModel(model, { layer: 1, sae: second });
    expect(readHookRecords(model).map((r) => [r.layer, r.sae?.architecture, r.sae?.dSae])).toEqual([[1, "topk", 40]]);
    expect(model.graph!.input!.filter((i) => i.name!.startsWith("steer.")).map((i) => i.name)).toEqual(steerInputs(1));
    const file = join(tmp(), "model.onnx");
    writeModelProto(model, file, tmp());
    same(await trace(file, c, [1], steerRow(second)), await trace(writeHooked(w, 1, second), c, [1], steerRow(second)));
    // an empty hook: no steering inputs, and the unhooked logits
    expect(removeHook(model, 1)).toBe(residPost(1));
    hookModel(model, { layer: 1, sae: null });
    expect(model.graph!.input!.some((i) => i.name!.startsWith("steer."))).toBe(false);
    writeModelProto(model, file, tmp());
    same(await trace(file, c, [], null), await trace(writePlain(w), c, [], null));
  });
});

describe("build-model --hook-layers --sae, hook-model and attach-sae", () => {
  afterEach(() => vi.restoreAllMocks());
  const quiet = () => {
    const out: string[] = [];
    vi.spyOn(process.stdout, "write").mockImplementation((s) => (out.push(String(s)), true));
    vi.spyOn(process.stderr, "write").mockImplementation((s) => (out.push(String(s)), true));
    return out;
  };

  it("gives the same steered logits whichever way the SAE got in, and records it in the manifest", async () => {
    const out = quiet();
    const stories = join(SHARED_MODELS, "stories260K");
    const saeDir = join(tmp(), "sae");
    const sae = randomSae("jumprelu", 64, 96, 3, { layer: 2 });
    saveSaeLens(saeDir, sae);
    const hash = saeDirHash(saeDir);

    const hooked = tmp();
    expect(await buildMain(["--from", stories, "--out", hooked, "--hook-layers", "1,2", "--sae", saeDir, "--quiet"]), out.join("")).toBe(0);
    const m = readManifest(hooked);
    expect(m.hookedLayers).toEqual([1, 2]);
    expect(m.saes).toEqual([{ layer: 2, tensor: residPost(2), architecture: "jumprelu", dSae: 96, k: null, dir: saeDir, sha256: hash, hookFormat: HOOK_FORMAT }]);

    const plain = tmp();
    expect(await buildMain(["--from", stories, "--out", plain, "--quiet"])).toBe(0);
    const surgery = tmp();
    expect(await hookMain(["--in", join(plain, "model.onnx"), "--tensor", residPost(2), "--sae", saeDir, "--out", surgery]), out.join("")).toBe(0);
    expect(readManifest(surgery).saes).toEqual(m.saes);
    const attached = tmp();
    expect(await attachMain(["--model", plain, "--sae", saeDir, "--out", attached]), out.join("")).toBe(0);
    expect(readManifest(attached).hookedLayers).toEqual([2]);

    const cfg: LlamaConfig = { ...randomLlama().config, ...m.dims };
    const row = steerRow(sae);
    const ref = await trace(join(hooked, "model.onnx"), cfg, [2], row);
    same(await trace(join(surgery, "model.onnx"), cfg, [2], row), ref);
    same(await trace(join(attached, "model.onnx"), cfg, [2], row), ref);
    // the hook-less layer 1 changes nothing: unsteered logits equal the plain build's
    same(await trace(join(hooked, "model.onnx"), cfg, [2], null), await trace(join(plain, "model.onnx"), cfg, [], null));
    expect(readFileSync(join(hooked, "model.onnx")).includes(Buffer.from("steerguard.hooks"))).toBe(true);
  });

  it("hook-model and attach-sae print help and refuse bad flags", async () => {
    const out = quiet();
    expect(await hookMain(["--help"])).toBe(0);
    expect(await attachMain(["--help"])).toBe(0);
    expect(out.join("")).toContain("--tensor NAME");
    expect(await hookMain(["--in", "x.onnx"])).toBe(2);
    expect(await attachMain(["--model", "m"])).toBe(2);
    expect(await attachMain(["--model", "m", "--sae", "s", "--layer", "-1"])).toBe(2);
    expect(await buildMain(["--from", "x", "--out", "y", "--hook-layers", "a"])).toBe(2);
    expect(await benchMain(["--help"])).toBe(0);
    expect(await benchMain(["--arch", "gelu"])).toBe(2);
    const missing = join(tmp(), "model.onnx");
    writeModel(buildLlamaGraph(randomLlama({ nLayers: 2 }, 3)), missing);
    expect(await hookMain(["--in", missing, "--tensor", "/nope", "--layer", "1", "--out", tmp()])).toBe(1);
    expect(out.join("")).toContain("hook-model: no tensor named /nope in the graph");
  });
});

/**
 * Fused graphs: our build, optimized by onnxruntime ("extended": RMS norms
 * become SimplifiedLayerNormalization), then every residual add fused into
 * the next norm (SkipSimplifiedLayerNormalization) the way onnxruntime's
 * transformer optimizer or the onnxruntime-genai builder write it
 * (./fuse-skip-norm.ts). Surgery unfuses the node after the hooked block and
 * the logits follow the plain-TS reference with the steering hook to 1e-4.
 */
describe("graph surgery on fused graphs", () => {
  const TOL = 1e-4;
  const w = randomLlama({ nLayers: 3, rotary: "half" }, 11);
  const c = w.config;
  const N = c.nLayers;
  const sae = randomSae("jumprelu", c.dModel, 48, 12);
  const row: RowSteering = { ...steerRow(sae), positions: "all" };
  const spec = (layer: number) => ({ layer, positions: row.positions, features: row.features, strength: row.strength });

  /** Our plain build, through onnxruntime's optimizer ("extended"), written as a file. */
  async function ortOptimized(): Promise<string> {
    const dir = tmp();
    writeModel(buildLlamaGraph(w), join(dir, "plain.onnx"));
    const file = join(dir, "optimized.onnx");
    const s = await ort.InferenceSession.create(join(dir, "plain.onnx"), { graphOptimizationLevel: "extended", optimizedModelFilePath: file });
    await s.release();
    return file;
  }

  async function fusedModel(naming: FusionNaming): Promise<ModelProto> {
    const model = readModelProto(await ortOptimized());
    expect(fuseSkipNorms(model, naming)).toBe(2 * N);
    return model;
  }

  function save(model: ModelProto): string {
    const file = join(tmp(), "model.onnx");
    writeModelProto(model, file, tmp());
    return file;
  }

  /** Logits of a prefill and two decode steps at batch 1, steered at `layer` with `r` (null: gate 0; no layer: no hook). */
  async function graphLogits(file: string, layer: number | null, r: RowSteering | null): Promise<Float32Array[]> {
    const s = await ort.InferenceSession.create(file, { graphOptimizationLevel: "all" });
    const feeds = (seq: number, start: number): SteerFeeds => (layer === null ? {} : { [layer]: layerStepInputs([r], seq, [start]) });
    let res = await runSteeredStep(s, c, [PROMPT], [PROMPT.map((_, i) => i)], [PROMPT.map(() => 1)], emptyPast(c, 1), feeds(PROMPT.length, 0));
    const out = [...res.logits[0]];
    let len = PROMPT.length;
    for (const tok of [5, 9]) {
      res = await runSteeredStep(s, c, [[tok]], [[len]], [Array(len + 1).fill(1)], res.past, feeds(1, len));
      out.push(res.logits[0][0]);
      len++;
    }
    await s.release();
    return out;
  }

  function referenceLogits(layer: number | null): Float32Array[] {
    const cache = newKvCache(w);
    const onResidual = layer === null ? undefined : steeringHook(sae, spec(layer), PROMPT.length);
    const out = [...referenceForward(w, cache, PROMPT, { onResidual }).logits];
    for (const tok of [5, 9]) out.push(referenceForward(w, cache, [tok], { onResidual }).logits[0]);
    return out;
  }

  const maxDiff = (a: Float32Array[], b: Float32Array[]) => Math.max(...a.map((x, t) => maxAbsDiff(x, b[t])));
  const plainRef = referenceLogits(null);

  /** Hooks `model` at `layer`; steered and gate-0 logits against the reference; the Skip nodes left. */
  async function hookAndCompare(model: ModelProto, layer: number, expectTensor: string): Promise<void> {
    expect(detectResidualTensor(model, layer)).toBe(expectTensor);
    const record = hookModel(model, { layer, sae });
    expect(record.tensor).toBe(expectTensor);
    expect(opCounts(model)["com.microsoft:SkipSimplifiedLayerNormalization"]).toBe(2 * N - 1);
    const file = save(model);
    const steeredRef = referenceLogits(layer);
    expect(maxDiff(steeredRef, plainRef)).toBeGreaterThan(1e-2); // steering really moves the logits
    expect(maxDiff(await graphLogits(file, layer, row), steeredRef)).toBeLessThan(TOL);
    expect(maxDiff(await graphLogits(file, layer, null), plainRef)).toBeLessThan(TOL);
  }

  it("onnxruntime's optimizer fuses our norms but not the residual adds; the fused graph follows the reference", async () => {
    const optimized = readModelProto(await ortOptimized());
    const counts = opCounts(optimized);
    expect(counts.SimplifiedLayerNormalization).toBe(2 * N + 1);
    expect(counts["com.microsoft:SkipSimplifiedLayerNormalization"]).toBeUndefined();
    for (const naming of ["optimizer", "genai"] as const) {
      const fused = await fusedModel(naming);
      expect(opCounts(fused)).toMatchObject({ SimplifiedLayerNormalization: 1, "com.microsoft:SkipSimplifiedLayerNormalization": 2 * N });
      expect(maxDiff(await graphLogits(save(fused), null, null), plainRef)).toBeLessThan(TOL);
    }
  });

  it("optimizer naming: hooks the sum output a middle block's add keeps its name as (/model/layers.L/resid_post)", async () => {
    await hookAndCompare(await fusedModel("optimizer"), 1, residPost(1));
  });

  it("optimizer naming, last block: the final norm has no sum output; unfusing names it resid_post", async () => {
    await hookAndCompare(await fusedModel("optimizer"), N - 1, residPost(N - 1));
  });

  it("genai naming: a middle block is /model/layers.{L+1}/input_layernorm/output_3", async () => {
    const model = await fusedModel("genai");
    expect(model.graph!.node!.some((n) => n.name === "/model/layers.2/input_layernorm/SkipLayerNorm")).toBe(true);
    await hookAndCompare(model, 1, "/model/layers.2/input_layernorm/output_3");
  });

  it("genai naming, last block: the sum inside /model/layers.N/final_norm_layernorm/SkipLayerNorm", async () => {
    const model = await fusedModel("genai");
    const final = model.graph!.node!.find((n) => n.name === `/model/layers.${N}/final_norm_layernorm/SkipLayerNorm`)!;
    expect(final.output).toEqual([`/model/layers.${N}/final_norm_layernorm/output_0`]);
    await hookAndCompare(model, N - 1, residPost(N - 1));
  });

  it("replaces the SAE of a hooked fused graph at the unfused tensor", async () => {
    const model = await fusedModel("genai");
    hookModel(model, { layer: 1, sae: randomSae("relu", c.dModel, 32, 13) });
    const record = hookModel(model, { layer: 1, sae });
    expect(record.tensor).toBe("/model/layers.2/input_layernorm/output_3");
    expect(readHookRecords(model).map((r) => [r.layer, r.sae?.architecture])).toEqual([[1, "jumprelu"]]);
    expect(maxDiff(await graphLogits(save(model), 1, row), referenceLogits(1))).toBeLessThan(TOL);
  });

  it("hook-model on a fused file: --layer, or --tensor naming a genai sum output", async () => {
    const out: string[] = [];
    vi.spyOn(process.stdout, "write").mockImplementation((s) => (out.push(String(s)), true));
    vi.spyOn(process.stderr, "write").mockImplementation((s) => (out.push(String(s)), true));
    try {
      const fused = save(await fusedModel("genai"));
      const saeDir = join(tmp(), "sae");
      saveSaeLens(saeDir, sae);
      const byLayer = tmp();
      expect(await hookMain(["--in", fused, "--layer", "1", "--sae", saeDir, "--out", byLayer]), out.join("")).toBe(0);
      expect(out.join("")).toContain("hooked layer 1 at /model/layers.2/input_layernorm/output_3 with jumprelu SAE");
      const steeredRef = referenceLogits(1);
      expect(maxDiff(await graphLogits(join(byLayer, "model.onnx"), 1, row), steeredRef)).toBeLessThan(TOL);
      const byTensor = tmp();
      expect(await hookMain(["--in", fused, "--tensor", "/model/layers.2/input_layernorm/output_3", "--sae", saeDir, "--out", byTensor])).toBe(0);
      expect(readHookRecords(readModelProto(join(byTensor, "model.onnx"))).map((r) => r.layer)).toEqual([1]);
      expect(maxDiff(await graphLogits(join(byTensor, "model.onnx"), 1, row), steeredRef)).toBeLessThan(TOL);
    } finally {
      vi.restoreAllMocks();
    }
  });

  it("refuses with a reason: a read mean / inv_std_var, a statistics tensor named, an fp16 export", async () => {
    const model = await fusedModel("genai");
    const node = model.graph!.node!.find((n) => n.name === "/model/layers.2/input_layernorm/SkipLayerNorm")!;
    node.output = [node.output![0]!, "/model/layers.2/input_layernorm/mean", "", node.output![3]!];
    expect(() => hookModel(model, { layer: 1, tensor: "/model/layers.2/input_layernorm/mean", sae })).toThrow(
      /is the mean output of the fused SkipSimplifiedLayerNormalization node \/model\/layers\.2\/input_layernorm\/SkipLayerNorm, not a residual stream/,
    );
    model.graph!.node!.push({ opType: "Identity", name: "/debug/mean", input: ["/model/layers.2/input_layernorm/mean"], output: ["/debug/mean_out"] });
    expect(() => hookModel(model, { layer: 1, sae })).toThrow(/its mean output .* is read by Identity node \/debug\/mean; unfusing it would drop that output/);
    // nothing changed: the node is still fused and no hook went in
    expect(model.graph!.node!.includes(node)).toBe(true);
    expect(readHookRecords(model)).toEqual([]);

    const half = await fusedModel("genai");
    const emb = half.graph!.initializer!.find((t) => t.name === "model.embed_tokens.weight")!;
    emb.dataType = onnx.TensorProto.DataType.FLOAT16;
    expect(() => hookModel(half, { layer: 1, sae })).toThrow(/weights are FLOAT16; the hook is float32 only/);
    expect(opCounts(half)["com.microsoft:SkipSimplifiedLayerNormalization"]).toBe(2 * N);
    // an SAE of the wrong width is refused before the graph is touched
    const wide = await fusedModel("optimizer");
    expect(() => hookModel(wide, { layer: 1, sae: randomSae("relu", c.dModel + 1, 8, 1) })).toThrow(/d_in 33 does not match the model's d_model 32/);
    expect(opCounts(wide)["com.microsoft:SkipSimplifiedLayerNormalization"]).toBe(2 * N);
  });
});
