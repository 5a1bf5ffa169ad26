/**
 * Cutting a built decoder into segments (segments.ts): chained with
 * onnxruntime, the segments give the whole graph's outputs bit for bit; the
 * rotary tables and the mask are handed on, typed, not computed again; no
 * weight matmul is repeated; cuts
 * that would repeat real compute are refused with the reason.
 */
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { tempDir } from "../../../test/support/tmp.ts";
import { randomLlama } from "../random-model.ts";
import type { LlamaConfig } from "../weights.ts";
import { buildLlamaGraph, type BuildGraphOptions } from "./llama-graph.ts";
import * as N from "./names.ts";
import { onnx } from "./onnx-builder.ts";
import { splitGraph } from "./segments.ts";
import { writeModel } from "./write-model.ts";
import { readFileSync } from "node:fs";

function built(over: Partial<LlamaConfig>, opts: BuildGraphOptions = {}) {
  const w = randomLlama(over, 7);
  const file = join(tempDir("sg-segments-"), "model.onnx");
  writeModel(buildLlamaGraph(w, opts), file, { externalData: "never" });
  return { c: w.config, file, model: onnx.ModelProto.decode(readFileSync(file)) };
}

/** Plain-attention feeds: a prompt of `S` tokens on an empty cache. */
function feeds(c: LlamaConfig, S: number): Record<string, ort.Tensor> {
  const f: Record<string, ort.Tensor> = {
    [N.INPUT_IDS]: new ort.Tensor("int64", BigInt64Array.from({ length: S }, (_, i) => BigInt((i * 7 + 3) % c.vocabSize)), [1, S]),
    [N.POSITION_IDS]: new ort.Tensor("int64", BigInt64Array.from({ length: S }, (_, i) => BigInt(i)), [1, S]),
    [N.ATTENTION_MASK]: new ort.Tensor("int64", new BigInt64Array(S).fill(1n), [1, S]),
  };
  for (let l = 0; l < c.nLayers; l++) {
    f[N.pastKey(l)] = new ort.Tensor("float32", new Float32Array(0), [1, c.nKvHeads, 0, c.headDim]);
    f[N.pastValue(l)] = new ort.Tensor("float32", new Float32Array(0), [1, c.nKvHeads, 0, c.headDim]);
  }
  return f;
}

const count = (models: { graph?: { node?: { opType?: string | null }[] | null } | null }[], op: string) =>
  models.reduce((n, m) => n + (m.graph?.node ?? []).filter((x) => x.opType === op).length, 0);

describe("splitGraph", () => {
  it("segments chained give the whole graph's logits and cache exactly, with no weight matmul repeated", async () => {
    const { c, file, model } = built({ nLayers: 3, tiedEmbeddings: true });
    const cuts = [N.residPost(0), N.residPost(2)];
    const { models } = splitGraph(model, cuts);
    expect(models).toHaveLength(3);
    // Segment 1 takes the first cut; every block's cache comes from the segment holding the block.
    const outNames = models.map((m) => m.graph!.output!.map((o) => o.name!));
    const inNames = models.map((m) => m.graph!.input!.map((i) => i.name!));
    expect(outNames[0]!.slice(0, 3)).toEqual([N.presentKey(0), N.presentValue(0), N.residPost(0)]);
    expect(outNames[1]!.slice(0, 5)).toEqual([N.presentKey(1), N.presentValue(1), N.presentKey(2), N.presentValue(2), N.residPost(2)]);
    expect(outNames[2]).toEqual([N.LOGITS]);
    expect(inNames[1]).toContain(N.residPost(0));
    // The rotary tables and the mask, computed once, are handed on, with their types; none is computed again.
    const handed = outNames[0]!.slice(3);
    expect(handed).toEqual(expect.arrayContaining(["/rotary/cos", "/rotary/sin"]));
    expect(inNames[1]).toEqual(expect.arrayContaining(handed));
    for (const m of models.slice(1)) expect(m.graph!.node!.filter((n) => n.name!.startsWith("/rotary/") || n.name!.startsWith("/mask/"))).toEqual([]);
    expect(models[1]!.graph!.input!.find((i) => i.name === "/rotary/cos")!.type!.tensorType!.elemType).toBe(onnx.TensorProto.DataType.FLOAT);
    // No weight matmul in two segments.
    expect(count(models, "MatMul")).toBe(count([model], "MatMul"));
    expect(count(models, "Softmax")).toBe(count([model], "Softmax"));

    const whole = await (await ort.InferenceSession.create(file)).run(feeds(c, 5));
    const sessions = await Promise.all(models.map((m) => ort.InferenceSession.create(onnx.ModelProto.encode(m).finish())));
    const got: Record<string, ort.Tensor> = {};
    for (const session of sessions) {
      const f = { ...got, ...feeds(c, 5) };
      Object.assign(got, await session.run(Object.fromEntries(session.inputNames.map((n) => [n, f[n]!]))));
    }
    for (const name of [N.LOGITS, N.presentKey(0), N.presentValue(2)]) {
      expect(got[name]!.dims).toEqual(whole[name]!.dims);
      expect(Array.from(got[name]!.data as Float32Array)).toEqual(Array.from(whole[name]!.data as Float32Array));
    }
  });

  it("keeps a cut that is also a graph output (residualOutputs) as its segment's output", () => {
    const { model } = built({ nLayers: 2 }, { residualOutputs: true });
    const { models } = splitGraph(model, [N.residPost(0)]);
    expect(models[0]!.graph!.output!.filter((o) => o.name === N.residPost(0))).toHaveLength(1);
    expect(models[1]!.graph!.output!.map((o) => o.name)).toContain(N.residPost(1));
  });

  it("refuses a tensor the graph does not compute, cuts out of order, and real compute it would repeat", () => {
    const { model } = built({ nLayers: 3 });
    expect(() => splitGraph(model, ["/model/layers.9/resid_post"])).toThrow(/no node computes \/model\/layers.9\/resid_post/);
    expect(() => splitGraph(model, [N.residPost(2), N.residPost(0)])).toThrow(/out of order/);
    // int4 weights: block 1's v projection as the cut leaves the attention probabilities to be read
    // past it, and their type (from com.microsoft MatMulNBits) is not inferred: the Softmax would be
    // computed again.
    const { model: q4 } = built({ nLayers: 3, dModel: 32 }, { weights: "int4", blockSize: 16 });
    const vProj = q4.graph!.node!.find((n) => n.name!.startsWith("/model/layers.1/self_attn/v_proj"))!.output![0]!;
    expect(() => splitGraph(q4, [vProj])).toThrow(/\/model\/layers\.1\/self_attn\/probs \(Softmax\) is read past the cut .* does not separate the blocks/);
  });

  it("hands on what a cut inside a block leaves behind (block 0's output, past block 1's attention): computed once", async () => {
    const { c, file, model } = built({ nLayers: 2 });
    const cut = "/model/layers.1/self_attn/o_proj/MatMul";
    const { models } = splitGraph(model, [cut]);
    expect(models[1]!.graph!.input!.map((i) => i.name)).toEqual(expect.arrayContaining([cut, N.residPost(0)]));
    expect(count(models, "MatMul")).toBe(count([model], "MatMul"));
    const whole = await (await ort.InferenceSession.create(file)).run(feeds(c, 4));
    const got: Record<string, ort.Tensor> = {};
    for (const m of models) {
      const session = await ort.InferenceSession.create(onnx.ModelProto.encode(m).finish());
      const f = { ...got, ...feeds(c, 4) };
      Object.assign(got, await session.run(Object.fromEntries(session.inputNames.map((n) => [n, f[n]!]))));
    }
    expect(Array.from(got[N.LOGITS]!.data as Float32Array)).toEqual(Array.from(whole[N.LOGITS]!.data as Float32Array));
  });
});
