import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { buildModel, isBuildCurrent, resolveSource } from "./build.ts";
import { emptyPast, graphGreedy, maxAbsDiff, runStep } from "./graph/test-support.ts";
import { residPost } from "./graph/names.ts";
import { onnx } from "./graph/onnx-builder.ts";
import { fromFloat16Array, toFloat16Array } from "./half.ts";
import { writeHfFixture } from "./hf-fixture.ts";
import { loadLlama2c } from "./llama2c.ts";
import { readManifest } from "./manifest.ts";
import { randomLlama } from "./random-model.ts";
import { newKvCache, referenceForward, referenceGreedy } from "./reference.ts";
import { mapWeights, type LlamaWeights } from "./weights.ts";
import { tempDir } from "../../test/support/tmp.ts";

const SHARED = join(import.meta.dirname, "../../../shared/models");
const STORIES = join(SHARED, "stories260K");
const STORIES_HF = join(SHARED, "stories260K-hf");
const tmp = () => tempDir("sg-build-");

/** Reads the pieces of a llama2.c tokenizer .bin: int32 max_len, then per token float32 score, int32 len, bytes. */
function llama2cPieces(file: string): string[] {
  const b = readFileSync(file);
  const pieces: string[] = [];
  let o = 4;
  while (o < b.length) {
    const len = b.readInt32LE(o + 4);
    pieces.push(b.subarray(o + 8, o + 8 + len).toString("utf8"));
    o += 8 + len;
  }
  return pieces;
}

describe("buildModel", () => {
  it("builds stories260K from llama2.c and from HF with identical logits", async () => {
    const a = await buildModel({ from: STORIES, out: tmp() });
    const b = await buildModel({ from: STORIES_HF, out: tmp() });
    expect(a.manifest.source.kind).toBe("llama2c");
    expect(b.manifest.source.kind).toBe("hf");
    expect(a.manifest.dims).toEqual(b.manifest.dims);
    const sa = await ort.InferenceSession.create(a.modelFile);
    const sb = await ort.InferenceSession.create(b.modelFile);
    const c = loadLlama2c(join(STORIES, "stories260K.bin")).config;
    const ids = [1, 403, 407, 261, 378, 11, 259, 300, 42, 500];
    const pos = ids.map((_, i) => i);
    const ra = await runStep(sa, c, [ids], [pos], [ids.map(() => 1)], emptyPast(c, 1));
    const rb = await runStep(sb, c, [ids], [pos], [ids.map(() => 1)], emptyPast(c, 1));
    ids.forEach((_, i) => expect(maxAbsDiff(ra.logits[0][i], rb.logits[0][i])).toBeLessThan(1e-5));
  });

  it("golden: greedy stories260K from BOS + 'Once upon a time' is the same with the reference and the graph", async () => {
    const pieces = llama2cPieces(join(STORIES, "tok512.bin"));
    const prompt = [1, ...[" Once", " upon", " a", " time"].map((p) => pieces.indexOf(p))];
    expect(prompt.every((id) => id > 0)).toBe(true);
    const w = loadLlama2c(join(STORIES, "stories260K.bin"));
    const ref = referenceGreedy(w, prompt, 32);
    const built = await buildModel({ from: STORIES, out: tmp() });
    const s = await ort.InferenceSession.create(built.modelFile);
    expect(await graphGreedy(s, w.config, prompt, 32)).toEqual(ref);
    // and it reads as a story: "Once upon a time, there was a little girl named Lily..."
    expect(ref.slice(0, 12).map((id) => pieces[id]).join("")).toContain("there was a little");
  });

  it("writes a manifest with tokenizer, chat template and residual names", async () => {
    const dir = tmp();
    const l2c = await buildModel({ from: join(SHARED, "organism260K"), out: dir, id: "organism" });
    const m = readManifest(dir);
    expect(m).toEqual(l2c.manifest);
    expect(m).toMatchObject({
      format: "steerguard-model/1", id: "organism", architecture: "llama",
      tokenizer: { kind: "llama2c", files: ["tok512.bin"], bosId: 1, eosId: 2, addBos: true },
      residualTensors: [0, 1, 2, 3, 4].map(residPost), hookedLayers: [],
    });
    expect(m.chatTemplate).toContain("Assistant:");
    expect(Object.keys(m.source.sha256).sort()).toEqual(["chat_template.jinja", "organism260K.bin", "tok512.bin"]);
    const hf = await buildModel({ from: STORIES_HF, out: tmp() });
    expect(hf.manifest.tokenizer).toEqual({ kind: "hf", files: ["tokenizer.json", "tokenizer_config.json"], bosId: 1, eosId: 2, eosIds: [2], addBos: true });
    expect(hf.manifest.chatTemplate).toContain("Assistant: ");
    expect(hf.manifest.specialTokens).toEqual([{ id: 0, text: "<unk>" }, { id: 1, text: "<s>" }, { id: 2, text: "</s>" }]);
  });

  it("builds a sharded qwen2-style fixture that matches the reference", async () => {
    const src = tmp();
    const w = randomLlama({ qkvBias: true, rotary: "interleaved" }, 31);
    writeHfFixture(src, w, { modelType: "qwen2", shards: 2 });
    cpSync(join(STORIES_HF, "tokenizer.json"), join(src, "tokenizer.json"));
    const built = await buildModel({ from: src, out: tmp() });
    expect(built.manifest.source.modelType).toBe("qwen2");
    expect(built.manifest.graph.qkvBias).toBe(true);
    expect(Object.keys(built.manifest.source.sha256)).toContain("model-00002-of-00002.safetensors");
    const s = await ort.InferenceSession.create(built.modelFile);
    const ids = [1, 2, 3, 4];
    const ref = referenceForward(w, newKvCache(w), ids).logits;
    const r = await runStep(s, w.config, [ids], [[0, 1, 2, 3]], [[1, 1, 1, 1]], emptyPast(w.config, 1));
    ref.forEach((l, i) => expect(maxAbsDiff(r.logits[0][i], l)).toBeLessThan(1e-4));
  });

  it("knows when a build is current and when the source changed", async () => {
    const src = tmp();
    cpSync(STORIES, src, { recursive: true });
    const out = tmp();
    expect(await isBuildCurrent(src, out)).toBe(false);
    await buildModel({ from: src, out });
    expect(await isBuildCurrent(src, out)).toBe(true);
    writeFileSync(join(src, "chat_template.jinja"), "{{ messages }}");
    expect(await isBuildCurrent(src, out)).toBe(false);
    await buildModel({ from: src, out }); // rebuild over read-only copies of the tokenizer works
    expect(readManifest(out).chatTemplate).toBe("{{ messages }}");
  });

  it("detects source kinds and explains bad sources", () => {
    expect(resolveSource(STORIES).kind).toBe("llama2c");
    expect(resolveSource(join(STORIES, "stories260K.bin")).kind).toBe("llama2c");
    expect(resolveSource(STORIES_HF).kind).toBe("hf");
    expect(() => resolveSource(tmp())).toThrow(/neither a Hugging Face checkpoint/);
    expect(() => resolveSource("/nonexistent/x")).toThrow(/not found/);
  });
});

/** name -> raw bytes of every initializer (inline or in the external data file) of a built model.onnx. */
function initializerBytes(modelFile: string): Map<string, Buffer> {
  const model = onnx.ModelProto.decode(readFileSync(modelFile));
  const out = new Map<string, Buffer>();
  for (const t of model.graph!.initializer!) {
    if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
      const kv = Object.fromEntries(t.externalData!.map((e) => [e.key, e.value]));
      const data = readFileSync(join(dirname(modelFile), kv.location!));
      out.set(t.name!, data.subarray(Number(kv.offset), Number(kv.offset) + Number(kv.length)));
    } else {
      out.set(t.name!, Buffer.from(t.rawData!));
    }
  }
  return out;
}

describe("buildModel: checkpoint dtypes and weight precisions", () => {
  /** Random weights whose every value is exact in bf16 and in fp16 (so every cast is exact). */
  function exactWeights(): LlamaWeights {
    const w = randomLlama({ dModel: 64, hiddenDim: 96, tiedEmbeddings: false, qkvBias: true }, 41);
    const exact = (a: Float32Array) => {
      const b = fromFloat16Array(toFloat16Array(a)); // fp16-exact ...
      const bits = new Uint32Array(b.buffer);
      for (let i = 0; i < bits.length; i++) bits[i] &= 0xffff0000; // ... and bf16-exact (fewer mantissa bits)
      return b;
    };
    return mapWeights(w, exact);
  }

  it("bf16 and fp16 checkpoints, sharded or not, build the same fp32 model as the fp32 checkpoint, bit for bit", async () => {
    const w = exactWeights();
    const built = new Map<string, Map<string, Buffer>>();
    for (const [name, dtype, shards] of [["F32", "F32", 1], ["BF16", "BF16", 1], ["F16 sharded", "F16", 3], ["BF16 sharded", "BF16", 2]] as const) {
      const src = tmp();
      writeHfFixture(src, w, { modelType: "qwen2", dtype, shards });
      cpSync(join(STORIES_HF, "tokenizer.json"), join(src, "tokenizer.json"));
      const b = await buildModel({ from: src, out: tmp(), externalData: name === "BF16 sharded" ? "always" : "never" });
      built.set(name, initializerBytes(b.modelFile));
    }
    const f32 = built.get("F32")!;
    expect(f32.size).toBeGreaterThan(20);
    for (const [name, inits] of built) {
      expect([...inits.keys()].sort(), name).toEqual([...f32.keys()].sort());
      for (const [t, bytes] of inits) expect(bytes.equals(f32.get(t)!), `${name}: ${t}`).toBe(true);
    }
    // control: a checkpoint whose values are not exact in bf16 does not build the same model from bf16
    const inexact = randomLlama({ dModel: 64, hiddenDim: 96, tiedEmbeddings: false, qkvBias: true }, 41);
    const src = tmp();
    writeHfFixture(src, inexact, { modelType: "qwen2", dtype: "BF16" });
    cpSync(join(STORIES_HF, "tokenizer.json"), join(src, "tokenizer.json"));
    const rounded = initializerBytes((await buildModel({ from: src, out: tmp() })).modelFile);
    expect([...rounded].some(([t, bytes]) => !bytes.equals(f32.get(t)!))).toBe(true);
  });

  it("records fused attention in the manifest, rebuilds when the other is asked for, and refuses head sizes its kernel does not take", async () => {
    const out = tmp();
    const gqa = await buildModel({ from: STORIES, out, attention: "gqa" });
    expect(gqa.manifest.graph.attention).toBe("gqa");
    expect(readManifest(out).graph.attention).toBe("gqa");
    expect(gqa.summary).toMatch(/fused attention \(gqa\)/);
    const inputs = new Set((await ort.InferenceSession.create(gqa.modelFile)).inputNames);
    expect(inputs.has("seqlens_k") && !inputs.has("attention_mask")).toBe(true);
    expect(await isBuildCurrent(STORIES, out, { attention: "gqa" })).toBe(true);
    expect(await isBuildCurrent(STORIES, out)).toBe(false); // plain asked for
    const plain = await buildModel({ from: STORIES, out: tmp() });
    expect(plain.manifest.graph.attention).toBe("plain");
    expect(await isBuildCurrent(STORIES, plain.outDir, { attention: "gqa" })).toBe(false);
    const src = tmp();
    writeHfFixture(src, randomLlama({ headDim: 12 }, 5), { modelType: "llama" });
    cpSync(join(STORIES_HF, "tokenizer.json"), join(src, "tokenizer.json"));
    await expect(buildModel({ from: src, out: tmp(), attention: "gqa" })).rejects.toThrow(/--attention gqa: .*multiple of 8; this model's is 12; build this model with plain attention/);
  });

  it("records the precision in the manifest, rebuilds when another is asked for, and refuses bad block sizes", async () => {
    const out = tmp();
    const int4 = await buildModel({ from: join(SHARED, "organism260K"), out, weights: "int4" });
    expect(int4.manifest.graph.precision).toEqual({ weights: "int4", blockSize: 32 });
    expect(readManifest(out).graph.precision).toEqual({ weights: "int4", blockSize: 32 });
    expect(int4.summary).toMatch(/int4 weights/);
    expect(await isBuildCurrent(join(SHARED, "organism260K"), out, { weights: "int4" })).toBe(true);
    expect(await isBuildCurrent(join(SHARED, "organism260K"), out, { weights: "int4", blockSize: 16 })).toBe(false);
    expect(await isBuildCurrent(join(SHARED, "organism260K"), out)).toBe(false); // fp32 asked for
    const fp32 = await buildModel({ from: join(SHARED, "organism260K"), out: tmp() });
    expect(fp32.manifest.graph.precision).toEqual({ weights: "fp32", blockSize: null });
    expect(int4.weightBytes).toBeLessThan(fp32.weightBytes / 3);
    await expect(buildModel({ from: join(SHARED, "organism260K"), out: tmp(), weights: "int8", blockSize: 24 })).rejects.toThrow(/power of two >= 16/);
  });
});
