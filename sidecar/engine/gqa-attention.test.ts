/**
 * Fused attention (build-model --attention gqa) through the engine's own
 * pieces (OnnxDecoder, the batch cache the manifest selects), against the
 * plain-TypeScript reference forward pass to 1e-4, on seeded tiny random
 * models with head size 16 or 32 and every family option: prompts prefilled
 * whole and in chunks against a non-empty cache, rows of different lengths
 * decoding together, rows joining and leaving (first, middle, last), and the
 * steering hook (gate, strength and positions per row) on a gqa build. The
 * plain graph runs the same script as a control. The same scripts run again
 * on the graphs cut into segments of one block each (segmented.ts).
 */
import { describe, expect, it } from "vitest";
import { buildLlamaGraph, type AttentionKind } from "../model/graph/llama-graph.ts";
import * as N from "../model/graph/names.ts";
import { maxAbsDiff } from "../model/graph/test-support.ts";
import { randomLlama } from "../model/random-model.ts";
import { newKvCache, referenceForward, type KvCache as RefCache } from "../model/reference.ts";
import type { LlamaConfig, LlamaWeights } from "../model/weights.ts";
import type { Sae } from "../sae/types.ts";
import { layerStepInputs, type RowSteering } from "../steering/inputs.ts";
import { steeringHook } from "../steering/reference.ts";
import { randomSae } from "../steering/test-support.ts";
import { OnnxDecoder } from "./decoder.ts";
import { writeTinyModel } from "./test-support.ts";
import { GqaKvCache } from "./gqa-kv-cache.ts";
import { BatchKvCache, batchCacheFor, type KvCache, type RowCache } from "./kv-cache.ts";

const TOL = 1e-4;

/** A decoder over a tiny model directory (test-support.ts writeTinyModel). */
async function tinyDecoder(w: LlamaWeights, attention: AttentionKind, hook?: { layer: number; sae: Sae }, segmentLayers = 0): Promise<OnnxDecoder> {
  const { dir, manifest } = writeTinyModel(w, attention, hook);
  return OnnxDecoder.load(dir, manifest, { intraOpThreads: 1, segmentLayers });
}

interface Row {
  prompt: number[];
  ref: RefCache;
  /** The reference's steering hook and the engine's steering of this row, if steered. */
  steer?: { onResidual: ReturnType<typeof steeringHook>; row: RowSteering };
  /** The token the row feeds next. */
  next: number;
}

/**
 * Drives the decoder like the scheduler does (prefill chunks at batch 1, then
 * joint decode steps over the batch cache) and checks every logit row
 * against the reference.
 */
class Harness {
  readonly cache: KvCache;
  readonly rows: Row[] = [];
  steps = 0;

  constructor(
    readonly w: LlamaWeights,
    readonly decoder: OnnxDecoder,
    readonly hookLayer?: number,
  ) {
    this.cache = batchCacheFor(decoder.manifest);
  }

  /** Prefills `prompt` in chunks of the given sizes (checking each chunk's logits) and adds the row to the batch. */
  async join(prompt: number[], chunks: number[], steer?: { sae: Sae; features: RowSteering["features"]; strength: number; positions: RowSteering["positions"] }): Promise<void> {
    expect(chunks.reduce((a, b) => a + b, 0)).toBe(prompt.length);
    const row: Row = { prompt, ref: newKvCache(this.w), next: 0 };
    if (steer) {
      const spec = { layer: this.hookLayer!, positions: steer.positions, features: steer.features, strength: steer.strength };
      row.steer = { onResidual: steeringHook(steer.sae, spec, prompt.length), row: { ...spec, promptLength: prompt.length } };
    }
    let cache: RowCache | undefined;
    let done = 0;
    const V = this.w.config.vocabSize;
    for (const n of chunks) {
      const ids = prompt.slice(done, done + n);
      const out = await this.decoder.prefillChunk(ids, cache, { steering: this.steering([row], n, [done]) });
      const want = referenceForward(this.w, row.ref, ids, { onResidual: row.steer?.onResidual }).logits;
      want.forEach((l, i) => expect(maxAbsDiff(out.logits.subarray(i * V, (i + 1) * V), l), `chunk at ${done}, token ${i}`).toBeLessThan(TOL));
      done += n;
      cache = { length: done, keys: out.presentKeys, values: out.presentValues };
      row.next = (prompt[0]! * 7 + done) % V;
    }
    this.cache.add(cache!);
    this.rows.push(row);
  }

  /** One decode step for every row; each row's logits against the reference. */
  async decode(): Promise<void> {
    const B = this.rows.length;
    const V = this.w.config.vocabSize;
    const lengths = this.rows.map((_, b) => this.cache.rowLength(b));
    const out = await this.decoder.step({
      batch: B,
      seq: 1,
      inputIds: BigInt64Array.from(this.rows, (r) => BigInt(r.next)),
      positionIds: BigInt64Array.from(lengths, BigInt),
      attentionMask: this.cache.stepMask(1),
      pastKeys: this.cache.pastKeys(),
      pastValues: this.cache.pastValues(),
      pastLength: this.cache.pastLength,
      presentInto: this.cache.presentBuffers(1),
      steering: this.steering(this.rows, 1, lengths),
    });
    this.cache.advance(out.presentKeys, out.presentValues, 1);
    this.rows.forEach((r, b) => {
      const want = referenceForward(this.w, r.ref, [r.next], { onResidual: r.steer?.onResidual }).logits[0]!;
      expect(maxAbsDiff(out.logits.subarray(b * V, (b + 1) * V), want), `step ${this.steps}, row ${b} (length ${lengths[b]})`).toBeLessThan(TOL);
      r.next = (r.next * 13 + 5 + b) % V;
    });
    this.steps++;
  }

  leave(rows: number[]): void {
    this.cache.remove(rows);
    for (const b of [...rows].sort((x, y) => y - x)) this.rows.splice(b, 1);
    this.rows.forEach((r, b) => expect(this.cache.rowLength(b)).toBe(r.ref.length));
  }

  private steering(rows: Row[], seq: number, starts: number[]) {
    if (this.hookLayer === undefined || rows.every((r) => !r.steer)) return undefined;
    return { [this.hookLayer]: layerStepInputs(rows.map((r) => r.steer?.row ?? null), seq, starts) };
  }
}

const prompt = (n: number, seed: number, V = 50) => Array.from({ length: n }, (_, i) => (seed * 17 + i * 11 + 1) % V);

/** Rows of 9, 3, 1 and 15 prompt tokens, prefilled whole and in uneven chunks; joins and leaves between decode steps. */
async function script(h: Harness): Promise<void> {
  await h.join(prompt(9, 1), [4, 3, 2]);
  await h.join(prompt(3, 2), [3]);
  for (let i = 0; i < 3; i++) await h.decode();
  await h.join(prompt(1, 3), [1]); // a one-token prompt
  await h.join(prompt(15, 4), [8, 7]); // longer than every running row
  for (let i = 0; i < 3; i++) await h.decode();
  h.leave([1]); // a middle row
  for (let i = 0; i < 2; i++) await h.decode();
  await h.join(prompt(5, 5), [2, 2, 1]);
  h.leave([0, 2]); // the first row and the longest one
  for (let i = 0; i < 2; i++) await h.decode();
  h.leave([1]); // the last row
  await h.decode();
}

/** The steering script on a 3-block gqa build hooked at `layer`, its graph cut into segments of `segmentLayers` blocks (0: whole). */
async function hookScript(layer: number, segmentLayers: number): Promise<void> {
  const w = randomLlama({ headDim: 16, nLayers: 3 }, 340);
  const sae = randomSae("jumprelu", w.config.dModel, 48, 41, { layer });
  const decoder = await tinyDecoder(w, "gqa", { layer, sae }, segmentLayers);
  expect(decoder.steerLayers).toEqual([layer]);
  expect(decoder.segments).toBe(segmentLayers ? 4 : 1);
  const h = new Harness(w, decoder, layer);
  const features = [{ index: 3, mode: "add" as const, value: 6 }, { index: 7, mode: "clamp" as const, value: 2 }, { index: 11, mode: "scale" as const, value: 3 }];
  await h.join(prompt(7, 6), [3, 4], { sae, features, strength: 1.5, positions: "generated" });
  await h.join(prompt(4, 7), [4]);
  await h.decode();
  await h.join(prompt(9, 8), [5, 2, 2], { sae, features, strength: 0.6, positions: "all" });
  for (let i = 0; i < 3; i++) await h.decode();
  h.leave([0]);
  for (let i = 0; i < 2; i++) await h.decode();
  // Steering was really on: the steered rows' logits differ from the unsteered reference.
  const plain = referenceForward(w, newKvCache(w), prompt(7, 6)).logits.at(-1)!;
  const steered = referenceForward(w, newKvCache(w), prompt(7, 6), { onResidual: steeringHook(sae, { layer, positions: "generated", features, strength: 1.5 }, 7) }).logits.at(-1)!;
  expect(maxAbsDiff(plain, steered)).toBeGreaterThan(0.01);
  await decoder.release();
}

const half = 8; // head size 16 / 2
const families: [string, Partial<LlamaConfig>][] = [
  ["llama, head size 16, 4 query / 2 kv heads", { headDim: 16 }],
  ["llama, head size 32, multi-head (4 / 4), q/k/v biases, tied embeddings", { headDim: 32, nKvHeads: 4, qkvBias: true, tiedEmbeddings: true }],
  ["interleaved rotary weights", { headDim: 16, rotary: "interleaved" }],
  ["mistral-like: sliding window 4 on every layer", { headDim: 16, slidingWindows: [4, 4] }],
  ["gemma2-like: sandwich norms, gelu_tanh, attn scale, soft-caps, window 3 on even layers", {
    headDim: 16, sandwichNorms: true, activation: "gelu_tanh", embedScale: Math.fround(Math.sqrt(32)), attnScale: 0.2, attnSoftcap: 2, finalSoftcap: 3,
    slidingWindows: [3, null, 3], nLayers: 3, tiedEmbeddings: true,
  }],
  ["llama3 rope", { headDim: 16, rope: { type: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 8 }, ropeTheta: 500000 }],
  ["phi3 longrope: short factors, then long ones past the original context", {
    headDim: 16, rope: { type: "longrope", shortFactor: Array.from({ length: half }, (_, j) => 1 + j / 4), longFactor: Array.from({ length: half }, (_, j) => 2 + j), originalContext: 9, attentionFactor: 1.2 },
  }],
];

describe("fused attention (gqa) in the engine vs the reference forward pass", () => {
  it.each(families)("%s: chunked prefill, a batch of different lengths, joins and leaves agree to 1e-4", async (_name, over) => {
    const w = randomLlama(over, 300 + families.findIndex(([, o]) => o === over));
    const decoder = await tinyDecoder(w, "gqa");
    const h = new Harness(w, decoder);
    expect(h.cache).toBeInstanceOf(GqaKvCache);
    await script(h);
    await decoder.release();
  });

  it("the plain graph passes the same script (control)", async () => {
    const w = randomLlama({ headDim: 16, slidingWindows: [4, null] }, 333);
    const decoder = await tinyDecoder(w, "plain");
    const h = new Harness(w, decoder);
    expect(h.cache).toBeInstanceOf(BatchKvCache);
    await script(h);
    await decoder.release();
  });

  it("the steering hook stays exact on a gqa build: steered and plain rows, chunked, batched, joining and leaving", async () => {
    await hookScript(1, 0);
  });

  it("refuses head sizes GroupQueryAttention does not take, with the reason", () => {
    const w = randomLlama({ headDim: 12 }, 1);
    expect(() => buildLlamaGraph(w, { attention: "gqa" })).toThrow(/multiple of 8.*12.*plain attention/);
  });

  it("a gqa graph takes lengths instead of a mask and returns only the new keys and values", () => {
    const g = buildLlamaGraph(randomLlama({ headDim: 16 }, 1), { attention: "gqa" });
    const inputs = g.inputs.map((i) => i.name);
    expect(inputs).toEqual(expect.arrayContaining([N.INPUT_IDS, N.POSITION_IDS, N.SEQLENS_K, N.TOTAL_SEQUENCE_LENGTH, N.pastKey(0), N.pastValue(1)]));
    expect(inputs).not.toContain(N.ATTENTION_MASK);
    const outputs = g.outputs.map((o) => o.name);
    expect(outputs).toEqual([N.LOGITS, N.newKey(0), N.newValue(0), N.newKey(1), N.newValue(1)]);
    expect(g.nodes.filter((n) => n.opType === "GroupQueryAttention").map((n) => n.domain)).toEqual(["com.microsoft", "com.microsoft"]);
  });
});

describe("the same graphs cut into segments of one block (segmented.ts) vs the reference forward pass", () => {
  it.each(families)("%s (gqa, segmented): chunked prefill, a batch of different lengths, joins and leaves agree to 1e-4", async (_name, over) => {
    const w = randomLlama(over, 300 + families.findIndex(([, o]) => o === over));
    const decoder = await tinyDecoder(w, "gqa", undefined, 1);
    expect(decoder.segments).toBe(w.config.nLayers + 1);
    await script(new Harness(w, decoder));
    await decoder.release();
  });

  it("the plain graph, segmented", async () => {
    const w = randomLlama({ headDim: 16, slidingWindows: [4, null] }, 333);
    const decoder = await tinyDecoder(w, "plain", undefined, 1);
    expect(decoder.segments).toBe(3);
    await script(new Harness(w, decoder));
    await decoder.release();
  });

  it.each([
    [1, "a middle block (its hook opens the next segment)"],
    [2, "the last block (its hook is in the head's segment, which then runs on every position)"],
  ])("the steering hook at layer %i, %s, stays exact when segmented", async (layer) => {
    await hookScript(layer, 1);
  });
});
