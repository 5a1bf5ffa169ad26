/**
 * The decoder at each weight precision against the plain-TypeScript
 * reference forward pass run on the weights as stored (quantize.ts asStored:
 * rounded to fp16, or quantized and dequantized). With accuracy_level 0 the
 * MatMulNBits kernel computes in float32, so the graph must agree to 1e-4;
 * at the default accuracy_level 4 (int8 activations on CPU) it must still
 * pick the same tokens. A lazily-read (streamed) model must equal the eager one.
 */
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { tempDir } from "../../../test/support/tmp.ts";
import type { LazyTensor, Weight } from "../lazy-tensor.ts";
import { asStored, WEIGHT_PRECISIONS, type WeightPrecision } from "../quantize.ts";
import { randomLlama } from "../random-model.ts";
import { argmax, newKvCache, referenceForward } from "../reference.ts";
import { mapWeights, type LlamaConfig, type LlamaWeights } from "../weights.ts";
import { buildLlamaGraph, type BuildGraphOptions } from "./llama-graph.ts";
import { emptyPast, maxAbsDiff, runStep } from "./test-support.ts";
import { writeModel } from "./write-model.ts";

const TOL = 1e-4;

async function session(w: LlamaWeights<Weight>, opts: BuildGraphOptions, externalData: "never" | "always" = "never") {
  const file = join(tempDir("sg-precision-"), "model.onnx");
  const written = writeModel(buildLlamaGraph(w, opts), file, { externalData });
  return { s: await ort.InferenceSession.create(file), written };
}

/** Prefill of `prompt` then two cached decode steps: logits of every position. */
async function run(s: ort.InferenceSession, c: LlamaConfig, prompt: number[]): Promise<Float32Array[]> {
  let r = await runStep(s, c, [prompt], [prompt.map((_, i) => i)], [prompt.map(() => 1)], emptyPast(c, 1));
  const out = [...r.logits[0]];
  let len = prompt.length;
  for (const tok of [5, 9]) {
    r = await runStep(s, c, [[tok]], [[len]], [Array(len + 1).fill(1)], r.past);
    out.push(r.logits[0][0]);
    len++;
  }
  return out;
}

function reference(w: LlamaWeights, prompt: number[]): Float32Array[] {
  const cache = newKvCache(w);
  return [...referenceForward(w, cache, prompt).logits, ...[5, 9].map((t) => referenceForward(w, cache, [t]).logits[0])];
}

// hiddenDim 80 and dModel 48 are not multiples of the block: the last block is padded
const models: [string, Partial<LlamaConfig>][] = [
  ["untied, biases, GQA", { dModel: 48, nHeads: 4, nKvHeads: 2, headDim: 12, hiddenDim: 80, qkvBias: true, tiedEmbeddings: false }],
  ["tied, interleaved rotary", { dModel: 64, hiddenDim: 96, rotary: "interleaved", tiedEmbeddings: true }],
  ["gemma2-like: sandwich norms, soft-caps, window", {
    dModel: 64, hiddenDim: 128, sandwichNorms: true, activation: "gelu_tanh", embedScale: 8, attnSoftcap: 2, finalSoftcap: 3, slidingWindows: [3, null], nLayers: 2, tiedEmbeddings: true,
  }],
];
const prompt = [1, 17, 3, 42, 8, 25, 11];

describe("weight precisions", () => {
  const cases = models.flatMap(([name, over], i) => WEIGHT_PRECISIONS.map((p) => [`${p}, ${name}`, p, over, i] as const));
  it.each(cases)("%s: agrees with the reference on the stored weights to 1e-4", async (_n, precision, over, i) => {
    const w = randomLlama(over, 300 + i);
    const { s } = await session(w, { weights: precision, accuracyLevel: 0, blockSize: 16 });
    const got = await run(s, w.config, prompt);
    const want = reference(asStored(w, precision, 16), prompt);
    got.forEach((l, k) => expect(maxAbsDiff(l, want[k])).toBeLessThan(TOL));
    if (precision === "int4") {
      // control: the quantization is real, the fp32 reference is further away than the tolerance
      const fp32 = reference(w, prompt);
      expect(Math.max(...got.map((l, k) => maxAbsDiff(l, fp32[k])))).toBeGreaterThan(100 * TOL);
    }
  });

  it.each(["int8", "int4"] as WeightPrecision[])("%s at the default accuracy level (int8 activations) picks the reference's tokens", async (precision) => {
    const w = randomLlama({ dModel: 64, hiddenDim: 128, nLayers: 2 }, 7);
    const { s } = await session(w, { weights: precision });
    const got = await run(s, w.config, prompt);
    const want = reference(asStored(w, precision), prompt);
    got.forEach((l, k) => {
      expect(maxAbsDiff(l, want[k])).toBeLessThan(0.05);
      expect(argmax(l)).toBe(argmax(want[k]));
    });
  });

  it("bytes of weights shrink with precision", async () => {
    const w = randomLlama({ dModel: 128, hiddenDim: 256, nLayers: 2, vocabSize: 64 }, 8);
    const bytes: Record<string, number> = {};
    for (const p of WEIGHT_PRECISIONS) bytes[p] = buildLlamaGraph(w, { weights: p }).initializers.reduce((n, t) => n + t.byteLength, 0);
    expect(bytes.fp16 / bytes.fp32).toBeLessThan(0.52);
    expect(bytes.int8 / bytes.fp32).toBeLessThan(0.33);
    expect(bytes.int4).toBeLessThan(bytes.int8);
  });

  it.each(["fp32", "int4"] as WeightPrecision[])("%s: lazy weights (a streamed build) give the same model, each read when written", async (precision) => {
    const w = randomLlama({ dModel: 64, hiddenDim: 96, qkvBias: true, tiedEmbeddings: false }, 9);
    const reads: string[] = [];
    const lazy = (name: string, a: Float32Array): LazyTensor => ({ length: a.length, load: () => (reads.push(name), a.slice()) });
    const lw: LlamaWeights<Weight> = mapWeights<Float32Array, Weight>(w, (a, name) => lazy(name, a));
    const g = buildLlamaGraph(lw, { weights: precision });
    expect(reads).toEqual([]); // building the graph reads nothing
    const eager = await session(w, { weights: precision }, "always");
    const streamed = await session(lw, { weights: precision }, "always");
    expect(streamed.written.weightBytes).toBe(eager.written.weightBytes);
    expect(g.initializers.length).toBeGreaterThan(0);
    // every weight read exactly once per build (the graph above was never written)
    const perWeight = new Map<string, number>();
    for (const r of reads) perWeight.set(r, (perWeight.get(r) ?? 0) + 1);
    expect([...perWeight.values()].every((n) => n === 1)).toBe(true);
    expect(perWeight.size).toBe(3 + w.layers.length * Object.keys(w.layers[0]).length);
    const a = await run(eager.s, w.config, prompt);
    const b = await run(streamed.s, w.config, prompt);
    a.forEach((l, k) => expect(maxAbsDiff(l, b[k])).toBe(0));
  });
});
