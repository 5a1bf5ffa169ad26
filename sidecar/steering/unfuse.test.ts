/**
 * Unfusing Skip(Simplified)LayerNormalization: the Add + norm it leaves
 * computes what onnxruntime's fused kernel computes (its output and its
 * residual sum), with and without bias / beta / an epsilon attribute; it
 * refuses a node whose mean or inv_std_var something reads.
 */
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { gaussian, mulberry32 } from "../model/random-model.ts";
import { DataType, GraphBuilder, type AttrValue } from "../model/graph/onnx-builder.ts";
import { maxAbsDiff } from "../model/graph/test-support.ts";
import { writeModel } from "../model/graph/write-model.ts";
import { tempDir } from "../../test/support/tmp.ts";
import { encodeModelProto, readModelProto, type ModelProto } from "./surgery.ts";
import { unfuseSkipNorm } from "./unfuse.ts";

const B = 2;
const S = 3;
const D = 16;
const MS = { name: "com.microsoft", version: 1 };

function values(n: number, seed: number, scale = 1): Float32Array {
  const normal = gaussian(mulberry32(seed));
  return Float32Array.from({ length: n }, () => scale * normal());
}

interface FusedSpec {
  op: "SkipSimplifiedLayerNormalization" | "SkipLayerNormalization";
  beta?: boolean;
  bias?: boolean;
  epsilon?: number;
  /** Outputs 1..3 of the node ("" = not produced). */
  outs?: [string, string, string];
  /** Graph outputs besides "out". */
  graphOutputs?: string[];
  /** A node reading this tensor (to test refusals). */
  reader?: string;
}

/** A one-node graph: x, skip -> fused norm -> out (and whatever `outs` exposes). */
function fusedModel(spec: FusedSpec): ModelProto {
  const g = new GraphBuilder();
  g.input("x", DataType.FLOAT, ["b", "s", D]);
  g.input("skip", DataType.FLOAT, ["b", "s", D]);
  g.output("out", DataType.FLOAT, ["b", "s", D]);
  const gamma = g.f32("gamma", [D], values(D, 3));
  const beta = spec.beta ? g.f32("beta", [D], values(D, 4, 0.1)) : "";
  const bias = spec.bias ? g.f32("bias", [D], values(D, 5, 0.1)) : "";
  const inputs = spec.op === "SkipLayerNormalization" ? ["x", "skip", gamma, beta, bias] : ["x", "skip", gamma, bias];
  while (inputs.at(-1) === "") inputs.pop();
  const attrs: Record<string, AttrValue> = spec.epsilon === undefined ? {} : { epsilon: { float: spec.epsilon } };
  const outs = spec.outs ?? ["", "", "sum"];
  const outputs = ["out", ...outs];
  while (outputs.at(-1) === "") outputs.pop();
  // GraphBuilder refuses duplicate output names, and "" is one: name empty slots, then blank them.
  g.op(spec.op, inputs, "fused", attrs, outputs.map((o, i) => o || `__empty${i}`), MS);
  g.nodes[0]!.output = outputs;
  for (const o of spec.graphOutputs ?? (outs[2] ? [outs[2]] : [])) g.output(o, DataType.FLOAT, ["b", "s", D]);
  if (spec.reader) g.op("Identity", [spec.reader], "reader", {}, ["read"]);
  if (spec.reader) g.output("read", DataType.FLOAT, ["b", "s", D]);
  const file = join(tempDir("sg-unfuse-"), "model.onnx");
  writeModel(g, file);
  return readModelProto(file);
}

async function run(model: ModelProto, x: Float32Array, skip: Float32Array, names: string[]) {
  const s = await ort.InferenceSession.create(encodeModelProto(model));
  const out = await s.run({ x: new ort.Tensor("float32", x, [B, S, D]), skip: new ort.Tensor("float32", skip, [B, S, D]) }, names);
  await s.release();
  return names.map((n) => out[n]!.data as Float32Array);
}

/** RMS norm of each row of x + skip, epsilon eps (to show which epsilon a test can tell apart). */
function rmsRows(x: Float32Array, skip: Float32Array, eps: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let r = 0; r < x.length / D; r++) {
    let ss = 0;
    for (let d = 0; d < D; d++) ss += (x[r * D + d] + skip[r * D + d]) ** 2;
    const k = 1 / Math.sqrt(ss / D + eps);
    for (let d = 0; d < D; d++) out[r * D + d] = (x[r * D + d] + skip[r * D + d]) * k;
  }
  return out;
}

const CASES: [string, FusedSpec, number][] = [
  ["SkipSimplifiedLayerNormalization", { op: "SkipSimplifiedLayerNormalization", epsilon: 1e-6 }, 1],
  ["SkipSimplifiedLayerNormalization with bias", { op: "SkipSimplifiedLayerNormalization", bias: true, epsilon: 1e-5 }, 1],
  ["SkipLayerNormalization with beta and bias", { op: "SkipLayerNormalization", beta: true, bias: true, epsilon: 1e-5 }, 1],
  ["SkipLayerNormalization without beta", { op: "SkipLayerNormalization", epsilon: 1e-5 }, 1],
  // Tiny inputs: the mean square is near 1e-6, so the default epsilon (1e-12, not LayerNormalization's 1e-5) shows.
  ["SkipSimplifiedLayerNormalization, default epsilon", { op: "SkipSimplifiedLayerNormalization" }, 1e-3],
  ["SkipLayerNormalization, default epsilon", { op: "SkipLayerNormalization", beta: true }, 1e-3],
];

describe("unfuseSkipNorm", () => {
  it.each(CASES)("%s: the Add + norm give the fused node's output and residual sum", async (_, spec, scale) => {
    const x = values(B * S * D, 1, scale);
    const skip = values(B * S * D, 2, scale);
    const fused = fusedModel(spec);
    const [out, sum] = await run(fused, x, skip, ["out", "sum"]);
    const model = fusedModel(spec);
    expect(unfuseSkipNorm(model, model.graph!.node![0]!)).toBe("sum");
    expect(model.graph!.node!.map((n) => n.opType)).toEqual([
      "Add",
      ...(spec.bias ? ["Add"] : []),
      spec.op === "SkipLayerNormalization" ? "LayerNormalization" : "SimplifiedLayerNormalization",
    ]);
    const [out2, sum2] = await run(model, x, skip, ["out", "sum"]);
    expect(maxAbsDiff(sum2, sum)).toBeLessThan(1e-6);
    expect(maxAbsDiff(out2, out)).toBeLessThan(1e-5);
    if (scale < 1) {
      // On this data the epsilon matters: 1e-5 would have moved the output by far more than the tolerance.
      expect(maxAbsDiff(rmsRows(x, skip, 1e-5), rmsRows(x, skip, 1e-12))).toBeGreaterThan(0.1);
    }
  });

  it("names the sum when the node has no 4th output, and drops unread mean / inv_std_var", async () => {
    const spec: FusedSpec = { op: "SkipSimplifiedLayerNormalization", epsilon: 1e-5, outs: ["mean", "inv", ""] };
    const x = values(B * S * D, 6);
    const skip = values(B * S * D, 7);
    const [out] = await run(fusedModel(spec), x, skip, ["out"]);
    const model = fusedModel(spec);
    expect(() => unfuseSkipNorm(model, model.graph!.node![0]!)).toThrow(/has no residual-sum output: name one/);
    expect(() => unfuseSkipNorm(model, model.graph!.node![0]!, "out")).toThrow(/a tensor of that name exists/);
    expect(unfuseSkipNorm(model, model.graph!.node![0]!, "resid")).toBe("resid");
    expect(model.graph!.node!.flatMap((n) => n.output)).toEqual(["resid", "out"]);
    model.graph!.output!.push({ name: "resid", type: model.graph!.output![0]!.type });
    const [out2, resid] = await run(model, x, skip, ["out", "resid"]);
    expect(maxAbsDiff(out2, out)).toBeLessThan(1e-5);
    expect(maxAbsDiff(resid, x.map((v, i) => v + skip[i]))).toBe(0);
  });

  it("refuses when something reads the mean or inv_std_var, or the node is not a fused norm", () => {
    const read = fusedModel({ op: "SkipLayerNormalization", outs: ["mean", "", "sum"], reader: "mean" });
    expect(() => unfuseSkipNorm(read, read.graph!.node![0]!)).toThrow(/fused: its mean output mean is read by Identity node reader; unfusing it would drop that output/);
    const exposed = fusedModel({ op: "SkipSimplifiedLayerNormalization", outs: ["", "inv", "sum"], graphOutputs: ["inv"] });
    expect(() => unfuseSkipNorm(exposed, exposed.graph!.node![0]!)).toThrow(/its inv_std_var output inv is a graph output/);
    // a refusal leaves the graph as it was
    expect(exposed.graph!.node!.map((n) => n.opType)).toEqual(["SkipSimplifiedLayerNormalization"]);
    const plain = fusedModel({ op: "SkipSimplifiedLayerNormalization", reader: "sum" });
    expect(() => unfuseSkipNorm(plain, plain.graph!.node![1]!)).toThrow(/Identity node reader is not a fused Skip\*LayerNormalization/);
  });
});
