/**
 * Test and measurement support (the service does not use it): turns a graph
 * with plain residual adds and SimplifiedLayerNormalization nodes into one
 * whose residual adds are fused into SkipSimplifiedLayerNormalization
 * (com.microsoft), as the fused exports surgery meets are written.
 *
 * onnxruntime-node 1.30's own optimizer does not do this for our graphs: at
 * "extended" it fuses each RMS norm pattern into SimplifiedLayerNormalization
 * but never an Add into it, and it fuses Add + LayerNormalization into
 * SkipLayerNormalization only when the Add has no other reader, which a
 * residual add always has (the next residual add). The graphs surgery has to
 * handle come from onnxruntime's Python transformer optimizer and from the
 * onnxruntime-genai model builder, which fuse every residual add and give the
 * sum as the node's 4th output when something else reads it. So this takes
 * a graph after onnxruntime's "extended" optimization (SimplifiedLayerNormalization
 * nodes already in place) and does that last fusion, with either naming:
 *
 *   "optimizer": node SkipLayerNorm_K; outputs keep their names (the norm's
 *                output, the Add's output as output 3: /model/layers.L/resid_post).
 *   "genai":     node /model/layers.L/{input|post_attention}_layernorm/SkipLayerNorm
 *                with outputs .../output_0 and .../output_3; the final norm is
 *                /model/layers.N/final_norm_layernorm/SkipLayerNorm with no output 3;
 *                layer 0's input norm stays plain (/model/layers.0/input_layernorm/LayerNorm).
 */
import { onnx, type INodeProto } from "../model/graph/onnx-builder.ts";

type ModelProto = InstanceType<typeof onnx.ModelProto>;

export type FusionNaming = "optimizer" | "genai";

const isDefaultDomain = (n: INodeProto) => !n.domain || n.domain === "ai.onnx";

/** Where a norm of our builder sits: layer and location, from its node name. */
function normSite(name: string, nLayers: number): { layer: number; location: string } {
  const m = /^\/model\/layers\.(\d+)\/(input_layernorm|post_attention_layernorm)\//.exec(name);
  if (m) return { layer: Number(m[1]), location: m[2]!.replace(/_layernorm$/, "") };
  if (name.startsWith("/model/norm/")) return { layer: nLayers, location: "final_norm" };
  throw new Error(`fuseSkipNorms: cannot place norm node ${name}`);
}

function countLayers(model: ModelProto): number {
  return (model.graph?.input ?? []).filter((i) => /^past_key_values\.\d+\.key$/.test(i.name ?? "")).length;
}

/** Renames tensor `from` to `to` wherever it is read, and as a graph output. */
function renameTensor(model: ModelProto, from: string, to: string): void {
  for (const n of model.graph!.node ?? []) n.input = (n.input ?? []).map((t) => (t === from ? to : t));
  for (const o of model.graph!.output ?? []) if (o.name === from) o.name = to;
}

/**
 * Fuses every Add whose output a SimplifiedLayerNormalization normalizes
 * into one SkipSimplifiedLayerNormalization (in place). Returns how many.
 */
export function fuseSkipNorms(model: ModelProto, naming: FusionNaming): number {
  const graph = model.graph!;
  const nLayers = countLayers(model);
  const readers = new Map<string, INodeProto[]>();
  for (const n of graph.node ?? []) for (const t of n.input ?? []) readers.set(t, [...(readers.get(t) ?? []), n]);
  const graphOutputs = new Set((graph.output ?? []).map((o) => o.name));
  const producer = new Map<string, INodeProto>();
  for (const n of graph.node ?? []) for (const t of n.output ?? []) producer.set(t, n);

  let nodes = [...(graph.node ?? [])];
  const renames: [string, string][] = [];
  let fused = 0;
  for (const norm of graph.node ?? []) {
    if (norm.opType !== "SimplifiedLayerNormalization" || !isDefaultDomain(norm)) continue;
    const site = normSite(norm.name ?? "", nLayers);
    const prefix = `/model/layers.${site.layer}/${site.location}_layernorm`;
    const add = producer.get(norm.input![0]!);
    if (!add || add.opType !== "Add" || !isDefaultDomain(add)) {
      if (naming === "genai") {
        norm.name = `${prefix}/LayerNorm`;
        renames.push([norm.output![0]!, `${prefix}/output_0`]);
      }
      continue;
    }
    const sum = add.output![0]!;
    const sumRead = (readers.get(sum) ?? []).some((r) => r !== norm) || graphOutputs.has(sum);
    const epsilon = (norm.attribute ?? []).find((a) => a.name === "epsilon")?.f ?? 1e-5;
    const node: INodeProto = {
      opType: "SkipSimplifiedLayerNormalization",
      domain: "com.microsoft",
      name: naming === "genai" ? `${prefix}/SkipLayerNorm` : `SkipLayerNorm_${fused}`,
      input: [add.input![0]!, add.input![1]!, norm.input![1]!],
      output: sumRead ? [norm.output![0]!, "", "", sum] : [norm.output![0]!],
      attribute: [{ name: "epsilon", f: epsilon, type: onnx.AttributeProto.AttributeType.FLOAT }],
    };
    if (naming === "genai") {
      renames.push([norm.output![0]!, `${prefix}/output_0`]);
      if (sumRead) renames.push([sum, `${prefix}/output_3`]);
    }
    nodes[nodes.indexOf(add)] = node;
    nodes = nodes.filter((n) => n !== norm);
    fused++;
  }
  graph.node = nodes;
  for (const n of nodes) {
    for (const [from, to] of renames) n.output = (n.output ?? []).map((t) => (t === from ? to : t));
  }
  for (const [from, to] of renames) renameTensor(model, from, to);
  if (!(model.opsetImport ?? []).some((o) => o.domain === "com.microsoft")) {
    model.opsetImport = [...(model.opsetImport ?? []), { domain: "com.microsoft", version: 1 }];
  }
  if (naming === "genai") model.producerName = "onnxruntime-genai";
  return fused;
}

/** How many nodes of each type (domain-qualified for contrib ops). */
export function opCounts(model: ModelProto): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const n of model.graph?.node ?? []) {
    const k = n.domain && n.domain !== "ai.onnx" ? `${n.domain}:${n.opType}` : n.opType!;
    counts[k] = (counts[k] ?? 0) + 1;
  }
  return counts;
}
