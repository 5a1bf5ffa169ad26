/**
 * The ONNX decoder against the plain-TypeScript reference: seeded random tiny
 * models of both rotary conventions, with and without q/k/v biases, tied and
 * untied, GQA; prefill, cached decode steps, and left-padded batches.
 */
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { randomLlama, TINY_CONFIG } from "../random-model.ts";
import { newKvCache, referenceForward } from "../reference.ts";
import type { LlamaConfig, LlamaWeights } from "../weights.ts";
import { buildLlamaGraph } from "./llama-graph.ts";
import * as N from "./names.ts";
import { emptyPast, maxAbsDiff, runStep } from "./test-support.ts";
import { writeModel } from "./write-model.ts";
import { tempDir } from "../../../test/support/tmp.ts";

const TOL = 1e-4;
const tmp = () => tempDir("sg-graph-");

async function session(w: LlamaWeights, opts: Parameters<typeof buildLlamaGraph>[1] = {}, externalData: "never" | "always" = "never") {
  const file = join(tmp(), "model.onnx");
  writeModel(buildLlamaGraph(w, opts), file, { externalData });
  return { s: await ort.InferenceSession.create(file), file };
}

const variants: [string, Partial<LlamaConfig>][] = [];
for (const rotary of ["interleaved", "half"] as const) {
  for (const qkvBias of [false, true]) {
    for (const tiedEmbeddings of [false, true]) {
      variants.push([`${rotary} rotary, ${qkvBias ? "biases" : "no biases"}, ${tiedEmbeddings ? "tied" : "untied"}`, { rotary, qkvBias, tiedEmbeddings, nLayers: qkvBias ? 3 : 2 }]);
    }
  }
}

/** Family options (sidecar/model/hf-config.ts): each on a random model, windows shorter than the test prompts. */
const half = TINY_CONFIG.headDim / 2;
const families: [string, Partial<LlamaConfig>][] = [
  ["mistral-like: sliding window 4 on every layer", { slidingWindows: [4, 4] }],
  ["gemma2-like: sandwich norms, gelu_tanh, embed scale, attn scale, soft-caps, window 3 on even layers", {
    sandwichNorms: true, activation: "gelu_tanh", embedScale: Math.fround(Math.sqrt(32)), attnScale: 0.2, attnSoftcap: 2, finalSoftcap: 3,
    slidingWindows: [3, null, 3], nLayers: 3, tiedEmbeddings: true,
  }],
  ["gemma-like: exact gelu, head_dim != dModel/nHeads", { activation: "gelu", headDim: 12, embedScale: 5 }],
  ["llama3 rope", { rope: { type: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 8 }, ropeTheta: 500000 }],
  ["linear rope", { rope: { type: "linear", factor: 4 } }],
  ["dynamic NTK rope crossing its original context", { rope: { type: "dynamic", factor: 2, originalContext: 9 } }],
  ["phi3 longrope: short factors, then long ones past the original context", {
    rope: { type: "longrope", shortFactor: Array.from({ length: half }, (_, j) => 1 + j / 4), longFactor: Array.from({ length: half }, (_, j) => 2 + j), originalContext: 9, attentionFactor: 1.2 },
  }],
];
variants.push(...families);

describe("ONNX decoder vs reference", () => {
  it.each(variants)("%s: prefill and cached decode steps agree to 1e-4", async (_name, over) => {
    const w = randomLlama(over, 100 + variants.findIndex(([, o]) => o === over));
    const c = w.config;
    const { s } = await session(w);
    const prompt = [1, 17, 3, 42, 8, 25, 11];
    const cache = newKvCache(w);
    const ref = referenceForward(w, cache, prompt).logits;
    let r = await runStep(s, c, [prompt], [prompt.map((_, i) => i)], [prompt.map(() => 1)], emptyPast(c, 1));
    ref.forEach((l, i) => expect(maxAbsDiff(r.logits[0][i], l)).toBeLessThan(TOL));
    expect(r.past.keys[0].dims).toEqual([1, c.nKvHeads, prompt.length, c.headDim]);
    let len = prompt.length;
    for (const tok of [5, 49, 0, 33]) {
      const refStep = referenceForward(w, cache, [tok]).logits[0];
      r = await runStep(s, c, [[tok]], [[len]], [Array(len + 1).fill(1)], r.past);
      len++;
      expect(maxAbsDiff(r.logits[0][0], refStep)).toBeLessThan(TOL);
      expect(r.past.values[c.nLayers - 1].dims).toEqual([1, c.nKvHeads, len, c.headDim]);
    }
    // a multi-token step on top of a cache (chunked prefill) is causal among the new tokens too
    const chunk = [7, 9, 2];
    const refChunk = referenceForward(w, cache, chunk).logits;
    r = await runStep(s, c, [chunk], [chunk.map((_, i) => len + i)], [Array(len + chunk.length).fill(1)], r.past);
    refChunk.forEach((l, i) => expect(maxAbsDiff(r.logits[0][i], l)).toBeLessThan(TOL));
  });

  it.each([variants[1], variants[6], ...families])("%s: a left-padded batch of 2 equals each row run alone", async (_name, over) => {
    const w = randomLlama(over, 7);
    const c = w.config;
    const { s } = await session(w);
    const rows = [[1, 5, 9, 14, 20, 31], [1, 44, 2]];
    const S = Math.max(...rows.map((r) => r.length));
    const pad = rows.map((r) => S - r.length);
    const ids = rows.map((r, b) => [...Array(pad[b]).fill(0), ...r]);
    const mask = rows.map((_, b) => Array.from({ length: S }, (_, j) => (j < pad[b] ? 0 : 1)));
    const pos = rows.map((_, b) => Array.from({ length: S }, (_, j) => Math.max(0, j - pad[b])));
    const caches = rows.map(() => newKvCache(w));
    const refs = rows.map((r, b) => referenceForward(w, caches[b], r).logits);
    let r = await runStep(s, c, ids, pos, mask, emptyPast(c, 2));
    rows.forEach((row, b) => row.forEach((_, i) => expect(maxAbsDiff(r.logits[b][pad[b] + i], refs[b][i])).toBeLessThan(TOL)));
    // padding positions see no key at all: their (unused) logits must still be finite, not NaN
    expect(r.logits[1].every((l) => l.every(Number.isFinite))).toBe(true);
    // decode steps: each row continues at its own position; the mask grows by one real column
    const next = [[3, 8], [40, 41]];
    for (let step = 0; step < 2; step++) {
      for (const m of mask) m.push(1);
      const posStep = rows.map((row) => [row.length + step]);
      r = await runStep(s, c, next.map((n) => [n[step]]), posStep, mask, r.past);
      rows.forEach((_, b) => {
        const ref = referenceForward(w, caches[b], [next[b][step]]).logits[0];
        expect(maxAbsDiff(r.logits[b][0], ref)).toBeLessThan(TOL);
      });
    }
  });

  it("exposes the residual stream under its documented names", async () => {
    const w = randomLlama({ rotary: "interleaved", qkvBias: true }, 9);
    const g = buildLlamaGraph(w, { residualOutputs: true });
    const produced = new Set(g.nodes.flatMap((n) => n.output ?? []));
    for (let l = 0; l < w.config.nLayers; l++) expect(produced.has(N.residPost(l))).toBe(true);
    const { s } = await session(w, { residualOutputs: true });
    const prompt = [2, 4, 6];
    const ref = referenceForward(w, newKvCache(w), prompt, { keepResiduals: true });
    const r = await runStep(s, w.config, [prompt], [[0, 1, 2]], [[1, 1, 1]], emptyPast(w.config, 1));
    for (let l = 0; l < w.config.nLayers; l++) {
      const got = r.outputs[N.residPost(l)].data as Float32Array;
      const D = w.config.dModel;
      prompt.forEach((_, i) => expect(maxAbsDiff(got.subarray(i * D, (i + 1) * D), ref.residuals[l][i])).toBeLessThan(TOL));
    }
  });

  it("stores weights as external data when asked and still runs", async () => {
    const w = randomLlama({ tiedEmbeddings: true }, 10);
    const { s, file } = await session(w, {}, "always");
    expect(existsSync(`${file}_data`)).toBe(true);
    expect(statSync(file).size).toBeLessThan(30_000);
    const ref = referenceForward(w, newKvCache(w), [1, 2]).logits;
    const r = await runStep(s, w.config, [[1, 2]], [[0, 1]], [[1, 1]], emptyPast(w.config, 1));
    expect(maxAbsDiff(r.logits[0][1], ref[1])).toBeLessThan(TOL);
  });
});
