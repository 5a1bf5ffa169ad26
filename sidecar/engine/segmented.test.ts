/**
 * A decoder run as segment sessions (segmented.ts, decoder.ts segmentLayers)
 * against the same graph run whole: equal logits and cache, bit for bit, for
 * prompt chunks and batched decode steps; `logits: "last"` and `"none"`; the
 * pause between segments; weights in external data; the hook's activations
 * and condition (the Probe path); and the "auto" policy.
 * (The reference forward pass checks segmented graphs in gqa-attention.test.ts.)
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { randomLlama } from "../model/random-model.ts";
import type { Manifest } from "../model/manifest.ts";
import { encodeModelProto, readModelProto } from "../steering/surgery.ts";
import { layerStepInputs } from "../steering/inputs.ts";
import { randomSae } from "../steering/test-support.ts";
import { OnnxDecoder, type StepInput } from "./decoder.ts";
import { autoSegmentLayers, segmentCuts } from "./segmented.ts";
import { GqaKvCache } from "./gqa-kv-cache.ts";
import { writeTinyModel } from "./test-support.ts";

const w = randomLlama({ headDim: 16, nLayers: 4, tiedEmbeddings: true }, 91);
const V = w.config.vocabSize;
const ids = (n: number, seed: number) => Array.from({ length: n }, (_, i) => (seed * 13 + i * 7 + 1) % V);

async function pair(opts: { external?: boolean; hookLayer?: number } = {}) {
  const hook = opts.hookLayer === undefined ? undefined : { layer: opts.hookLayer, sae: randomSae("topk", w.config.dModel, 32, 5, { layer: opts.hookLayer }) };
  const { dir, manifest } = writeTinyModel(w, "gqa", hook, opts.external ? "always" : "never");
  const whole = await OnnxDecoder.load(dir, manifest, { intraOpThreads: 1 });
  const segmented = await OnnxDecoder.load(dir, manifest, { intraOpThreads: 1, segmentLayers: 2 });
  return { whole, segmented };
}

describe("segmented decoder", () => {
  it("gives the whole graph's logits and cache bit for bit: chunks, a batch decode step, weights in external data", async () => {
    const { whole, segmented } = await pair({ external: true });
    expect(whole.segments).toBe(1);
    expect(segmented.segments).toBe(3); // blocks 0-1, blocks 2-3, the head
    const run = async (d: OnnxDecoder) => {
      const a1 = await d.prefillChunk(ids(5, 1), undefined);
      const logits1 = a1.logits.slice();
      const a2 = await d.prefillChunk(ids(3, 2), { length: 5, keys: a1.presentKeys, values: a1.presentValues });
      const logits2 = a2.logits.slice();
      const b = await d.prefillChunk(ids(2, 3), undefined);
      const cache = new GqaKvCache(w.config.nLayers, w.config.nKvHeads, w.config.headDim);
      cache.add({ length: 8, keys: a2.presentKeys, values: a2.presentValues });
      cache.add({ length: 2, keys: b.presentKeys, values: b.presentValues });
      const step: StepInput = {
        batch: 2, seq: 1, inputIds: BigInt64Array.from([4n, 9n]), positionIds: BigInt64Array.from([8n, 2n]), attentionMask: new BigInt64Array(0),
        pastKeys: cache.pastKeys(), pastValues: cache.pastValues(), pastLength: cache.pastLength,
      };
      const c = await d.step(step);
      return [logits1, logits2, c.logits.slice(), ...a2.presentKeys.map((k) => k.slice(0, 8 * 64))];
    };
    const [a, b] = [await run(whole), await run(segmented)];
    expect(b.length).toBe(a.length);
    a.forEach((x, i) => expect(Array.from(b[i]!), `output ${i}`).toEqual(Array.from(x)));
    await whole.release();
    await segmented.release();
  });

  it('"last" runs the head on the last position only, "none" skips it; the run pauses after each block segment', async () => {
    const { whole, segmented } = await pair();
    const prompt = ids(6, 4);
    const all = (await whole.prefillChunk(prompt, undefined)).logits;
    let pauses = 0;
    const between = async () => void pauses++;
    expect(segmented.logitsRows(1, 6, "last")).toBe(1);
    const last = await segmented.prefillChunk(prompt, undefined, { logits: "last", logitsInto: new Float32Array(V), between });
    expect(Array.from(last.logits)).toEqual(Array.from(all.subarray(5 * V, 6 * V)));
    expect(pauses).toBe(2);
    expect(segmented.logitsRows(1, 6, "none")).toBe(0);
    const none = await segmented.prefillChunk(prompt, undefined, { logits: "none" });
    expect(none.logits.length).toBe(0);
    // The cache is complete either way.
    expect(Array.from(none.presentKeys[3]!.subarray(0, 6 * 16))).toEqual(Array.from(last.presentKeys[3]!.subarray(0, 6 * 16)));
    // A whole graph computes every position: "last" is a view of its last row.
    expect(whole.logitsRows(1, 6, "last")).toBe(6);
    expect(Array.from((await whole.prefillChunk(prompt, undefined, { logits: "last" })).logits)).toEqual(Array.from(all.subarray(5 * V, 6 * V)));
    await whole.release();
    await segmented.release();
  });

  it("a hook on the last block puts steering inputs in the head's segment: the head then runs on every position", async () => {
    const { whole, segmented } = await pair({ hookLayer: 3 });
    expect(segmented.steerLayers).toEqual([3]);
    expect(segmented.logitsRows(1, 4, "last")).toBe(4);
    const prompt = ids(4, 5);
    const want = (await whole.prefillChunk(prompt, undefined)).logits;
    const got = await segmented.prefillChunk(prompt, undefined, { logits: "last" });
    expect(Array.from(got.logits)).toEqual(Array.from(want.subarray(3 * V, 4 * V)));
    await whole.release();
    await segmented.release();
  });

  it("returns the hook's activations and condition as the whole graph does (the Probe path), hook in a middle block", async () => {
    const { whole, segmented } = await pair({ hookLayer: 1 });
    const prompt = ids(6, 6);
    const row = {
      features: [{ index: 2, mode: "add" as const, value: 4 }],
      strength: 1,
      positions: "generated" as const,
      promptLength: prompt.length,
      condition: { features: [{ index: 5, weight: 1.5 }, { index: 9, weight: -0.5 }], threshold: 0.1 },
    };
    const extra = { steering: { 1: layerStepInputs([row], prompt.length, [0]) }, acts: [1], cond: [1] };
    const [a, b] = [await whole.prefill(prompt, extra), await segmented.prefill(prompt, extra)];
    expect(Array.from(b.acts![1]!)).toEqual(Array.from(a.acts![1]!));
    expect(Array.from(b.cond![1]!)).toEqual(Array.from(a.cond![1]!));
    expect(Array.from(b.logits)).toEqual(Array.from(a.logits));
    expect(a.acts![1]!.some((x) => x !== 0)).toBe(true);
    expect(a.cond![1]!.length).toBe(prompt.length);
    await whole.release();
    await segmented.release();
  });

  it("runs a graph without our residual names whole, with a warning that says why", async () => {
    const { dir, manifest } = writeTinyModel(w, "gqa");
    // As an export from elsewhere would name them: no /model/layers.L/resid_post.
    const file = join(dir, "model.onnx");
    const model = readModelProto(file);
    const renamed = (n: string) => n.replace(/\/resid_post$/, "/Add_1_output_0");
    for (const node of model.graph!.node!) {
      node.input = node.input!.map(renamed);
      node.output = node.output!.map(renamed);
    }
    writeFileSync(file, encodeModelProto(model));
    const warnings: string[] = [];
    const d = await OnnxDecoder.load(dir, manifest, { intraOpThreads: 1, segmentLayers: 2, warn: (m) => warnings.push(m) });
    expect(d.segments).toBe(1);
    expect(warnings).toEqual([expect.stringMatching(/runs whole, not in segments: segments: no node computes \/model\/layers\.1\/resid_post/)]);
    const whole = await OnnxDecoder.load(writeTinyModel(w, "gqa").dir, manifest, { intraOpThreads: 1 });
    expect(Array.from((await d.prefillChunk(ids(4, 9), undefined)).logits)).toEqual(Array.from((await whole.prefillChunk(ids(4, 9), undefined)).logits));
    await d.release();
    await whole.release();
  });

  it('"auto": segments of about 12M block parameters on CPU for fused-attention models of 20M or more, else one graph', () => {
    const dims = (d: Partial<Manifest["dims"]>, attention = "gqa") => ({ dims: { nLayers: 12, dModel: 768, nHeads: 12, nKvHeads: 4, headDim: 64, hiddenDim: 2048, ...d }, graph: { attention } }) as Manifest;
    const random100m = dims({});
    expect(autoSegmentLayers(random100m, "cpu")).toBe(2);
    expect(segmentCuts(random100m, 2)).toHaveLength(6);
    expect(autoSegmentLayers(random100m, "cuda")).toBe(0);
    expect(autoSegmentLayers(dims({}, "plain"), "cpu")).toBe(0);
    expect(autoSegmentLayers(dims({ nLayers: 32, dModel: 4096, nHeads: 32, nKvHeads: 8, headDim: 128, hiddenDim: 14336 }), "cpu")).toBe(1); // Llama 3 8B
    expect(autoSegmentLayers(dims({ nLayers: 5, dModel: 64, nHeads: 8, nKvHeads: 4, headDim: 8, hiddenDim: 172 }), "cpu")).toBe(0); // stories260K
    expect(segmentCuts(random100m, 0)).toEqual([]);
  });
});
