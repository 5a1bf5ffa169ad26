/**
 * Cutting a decoder graph into segments of consecutive blocks, each its own
 * graph, so the engine can run a long prompt's chunk one segment at a time
 * and let a newcomer through between two of them (sidecar/engine/segmented.ts).
 *
 * The cuts are residual-stream tensors (names.ts residPost): segment s ends
 * with cut s as an output, segment s + 1 takes it as an input. Which segment
 * a node belongs to follows from the data flow alone: the latest segment of
 * anything it reads, where reading cut s means segment s + 1. What a node
 * reads from an earlier segment other than through a cut (the rotary
 * cos/sin and the mask, computed from the graph's inputs) crosses as one
 * more output and input: the earlier segment returns it, the runner hands it
 * on (segmented.ts), which costs less than computing it again (about half of
 * a segment's overhead per run, measured on random-100m). That needs its
 * element type, inferred here for the operators that keep or fix it
 * (inferElemTypes); a tensor of unknown type is computed again in the later
 * segment instead, which only cheap nodes may be: a node of real compute (it
 * reads a weight matrix, or it is an attention or a MatMul of activations)
 * whose output cannot be handed on means the cut does not separate the
 * blocks, and the split is refused.
 *
 * Each segment keeps the graph's inputs it reads, the graph's outputs it
 * computes, the tensors it hands on or takes, and the initializers its nodes read. An initializer read on both
 * sides of a cut (tied embeddings: the embedding table and the LM head) is in
 * both; loaded, that cost no memory against one graph (README, Latency).
 */
import { onnx, type INodeProto, type IValueInfoProto } from "./onnx-builder.ts";

type ModelProto = InstanceType<typeof onnx.ModelProto>;
type TensorProto = InstanceType<typeof onnx.TensorProto>;

export interface GraphSegments {
  /** One model per segment, in order; segment s > 0 takes cuts[s - 1] as an input. */
  models: ModelProto[];
  /** The cut tensors (residual stream after a block), float32 [batch, seq, dModel]. */
  cuts: string[];
}

/** Operators whose repetition in a later segment would repeat real compute. */
const HEAVY = new Set(["MatMul", "MatMulNBits", "Gemm", "GroupQueryAttention", "MultiHeadAttention", "Attention", "Softmax", "GatherBlockQuantized"]);

/** Initializers above this size read by a node that a later segment repeats mean the split is refused. */
const MAX_REPEATED_INITIALIZER_BYTES = 1 << 16;

/**
 * Cuts `model` at `cuts` (in the order the graph computes them). Throws when
 * a cut is not a tensor of the graph, when they are out of order, or when a
 * later segment would have to repeat real compute (see the header).
 */
export function splitGraph(model: ModelProto, cuts: string[]): GraphSegments {
  const graph = model.graph;
  if (!graph) throw new Error("segments: the model has no graph");
  const nodes = graph.node ?? [];
  // What each node reads: its inputs, and the outer tensors its subgraphs use (an If's branches).
  const reads = nodes.map((n) => [...(n.input ?? []), ...subgraphReads(n)]);
  const initializers = new Map((graph.initializer ?? []).map((t) => [t.name!, t as TensorProto]));
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => (n.output ?? []).forEach((o) => o && producer.set(o, i)));
  const cutIndex = new Map(cuts.map((c, s) => [c, s]));
  for (const c of cuts) if (!producer.has(c)) throw new Error(`segments: no node computes ${c}`);

  // Each node's segment: the latest of what it reads (a cut read = the segment after it).
  const seg = new Int32Array(nodes.length);
  nodes.forEach((_, i) => {
    let s = 0;
    for (const name of reads[i]!) {
      if (!name) continue;
      const cut = cutIndex.get(name);
      if (cut !== undefined) s = Math.max(s, cut + 1);
      else if (producer.has(name)) s = Math.max(s, seg[producer.get(name)!]!);
    }
    seg[i] = s;
  });
  // Nodes that read initializers only (the tied LM head's transposed table): folded at load, free to repeat.
  const constant = nodes.map(() => false);
  nodes.forEach((_, i) => {
    constant[i] = reads[i]!.every((name) => !name || initializers.has(name) || (producer.has(name) && constant[producer.get(name)!]));
  });
  cuts.forEach((c, s) => {
    if (seg[producer.get(c)!] !== s) throw new Error(`segments: cut ${c} is out of order (computed in segment ${seg[producer.get(c)!]}, expected ${s})`);
  });

  const graphInputs = new Map((graph.input ?? []).map((v) => [v.name!, v]));
  const outputs = graph.output ?? [];
  const types = inferElemTypes(graph);
  const segments = cuts.length + 1;
  // Per segment: its nodes (owned, and earlier ones computed again), the tensors it takes from earlier segments, and those it hands on.
  const members: Set<number>[] = [];
  const takes: Set<string>[] = Array.from({ length: segments }, () => new Set());
  const hands: Set<string>[] = Array.from({ length: segments }, () => new Set());
  for (let s = 0; s < segments; s++) {
    const member = new Set<number>();
    const stack = nodes.flatMap((_, i) => (seg[i] === s ? [i] : []));
    for (const i of stack) member.add(i);
    while (stack.length > 0) {
      const i = stack.pop()!;
      for (const name of reads[i]!) {
        if (!name || (s > 0 && name === cuts[s - 1])) continue;
        const j = producer.get(name);
        if (j === undefined || member.has(j)) continue;
        if (!constant[j]) {
          // Handed on from the segment that computes it, when its type is known; else computed again here, if cheap.
          if (types.has(name) && seg[j]! < s) {
            takes[s]!.add(name);
            hands[seg[j]!]!.add(name);
            continue;
          }
          checkRepeatable(nodes[j]!, initializers, cuts[s - 1]!);
        }
        member.add(j);
        stack.push(j);
      }
    }
    members.push(member);
  }

  const models: ModelProto[] = [];
  for (let s = 0; s < segments; s++) {
    const member = members[s]!;
    const order = [...member].sort((a, b) => a - b);
    const segNodes = order.map((i) => nodes[i]!);
    const segReads = new Set(order.flatMap((i) => reads[i]!));
    const inputs: IValueInfoProto[] = [...graphInputs.values()].filter((v) => segReads.has(v.name!));
    if (s > 0) inputs.push(residualInfo(cuts[s - 1]!));
    for (const name of takes[s]!) inputs.push(typedInfo(name, types.get(name)!));
    // Graph outputs come from the segment that owns their node, not one that repeats it.
    const computed = new Set(order.filter((i) => seg[i] === s).flatMap((i) => nodes[i]!.output ?? []));
    const segOutputs: IValueInfoProto[] = outputs.filter((v) => computed.has(v.name!));
    if (s < cuts.length && !segOutputs.some((v) => v.name === cuts[s])) segOutputs.push(residualInfo(cuts[s]!));
    for (const name of hands[s]!) if (!segOutputs.some((v) => v.name === name)) segOutputs.push(typedInfo(name, types.get(name)!));
    const inits = [...segReads].flatMap((name) => (initializers.has(name) ? [initializers.get(name)!] : []));
    models.push(
      onnx.ModelProto.create({
        irVersion: model.irVersion,
        opsetImport: model.opsetImport,
        producerName: model.producerName,
        producerVersion: model.producerVersion,
        graph: onnx.GraphProto.create({ name: `${graph.name ?? "graph"}.segment${s}`, node: segNodes, initializer: inits, input: inputs, output: segOutputs }),
      }),
    );
  }
  return { models, cuts };
}

/** Tensors of the enclosing scope that a node's subgraphs read (recursively). */
function subgraphReads(node: INodeProto): string[] {
  const out: string[] = [];
  for (const a of node.attribute ?? []) {
    for (const g of [...(a.g ? [a.g] : []), ...(a.graphs ?? [])]) {
      const local = new Set<string>([...(g.input ?? []).map((v) => v.name!), ...(g.initializer ?? []).map((t) => t.name!)]);
      for (const n of g.node ?? []) {
        for (const name of [...(n.input ?? []), ...subgraphReads(n)]) if (name && !local.has(name)) out.push(name);
        for (const o of n.output ?? []) local.add(o);
      }
    }
  }
  return out;
}

/** Throws when repeating `node` in a later segment would repeat real compute. */
function checkRepeatable(node: INodeProto, initializers: Map<string, TensorProto>, cut: string): void {
  const big = (node.input ?? []).find((name) => initializers.has(name) && initializerByteLength(initializers.get(name)!) > MAX_REPEATED_INITIALIZER_BYTES);
  if (HEAVY.has(node.opType ?? "") || big) {
    throw new Error(`segments: ${node.name} (${node.opType}) is read past the cut ${cut} other than through it; the cut does not separate the blocks`);
  }
}

/** A tensor handed between segments: its element type, its shape left to onnxruntime. */
function typedInfo(name: string, elemType: number): IValueInfoProto {
  return { name, type: { tensorType: { elemType } } };
}

/** Operators whose output has their first input's element type. */
const KEEPS_TYPE = new Set([
  "Identity", "Unsqueeze", "Squeeze", "Reshape", "Flatten", "Transpose", "Concat", "Slice", "Expand", "Tile", "Gather",
  "Add", "Sub", "Mul", "Div", "Neg", "Pow", "Sqrt", "Reciprocal", "Exp", "Log", "Abs", "Floor", "Ceil", "Max", "Min", "Mod",
  "Cos", "Sin", "Tanh", "Erf", "Sigmoid", "Relu", "Clip", "Range", "Trilu", "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "Softmax",
]);
const COMPARES = new Set(["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Not", "And", "Or", "Xor", "IsNaN", "IsInf"]);

/**
 * Element types of the graph's tensors where they follow from its inputs,
 * initializers and ops of the default domain: Cast's `to`, Shape's int64, a
 * comparison's bool, Where's branches, a Constant's value, and the operators
 * that keep their first input's type. Other tensors are left out.
 */
export function inferElemTypes(graph: NonNullable<ModelProto["graph"]>): Map<string, number> {
  const T = onnx.TensorProto.DataType;
  const types = new Map<string, number>();
  for (const v of graph.input ?? []) if (v.type?.tensorType?.elemType) types.set(v.name!, v.type.tensorType.elemType);
  for (const t of graph.initializer ?? []) if (t.dataType) types.set(t.name!, t.dataType);
  for (const n of graph.node ?? []) {
    if (n.domain && n.domain !== "ai.onnx") continue;
    const attr = (name: string) => (n.attribute ?? []).find((a) => a.name === name);
    const input = (k: number) => types.get(n.input?.[k] ?? "");
    const op = n.opType ?? "";
    let type: number | undefined;
    if (op === "Cast") type = Number(attr("to")?.i ?? 0) || undefined;
    else if (op === "Shape" || op === "Size") type = T.INT64;
    else if (COMPARES.has(op)) type = T.BOOL;
    else if (op === "Where") type = input(1);
    else if (op === "Constant" || op === "ConstantOfShape") type = attr("value")?.t?.dataType ?? (op === "ConstantOfShape" ? T.FLOAT : undefined);
    else if (KEEPS_TYPE.has(op)) type = input(0);
    const out = n.output?.[0];
    if (type && out) types.set(out, type);
  }
  return types;
}

function residualInfo(name: string): IValueInfoProto {
  return { name, type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: [{ dimParam: "batch_size" }, { dimParam: "sequence_length" }, {}] } } } };
}

/** Bytes of an initializer's values, inline or in external data. */
function initializerByteLength(t: TensorProto): number {
  if (t.rawData && t.rawData.length > 0) return t.rawData.length;
  const len = (t.externalData ?? []).find((e) => e.key === "length")?.value;
  if (len) return Number(len);
  return (t.floatData?.length ?? 0) * 4 + (t.int64Data?.length ?? 0) * 8 + (t.int32Data?.length ?? 0) * 4 + (t.doubleData?.length ?? 0) * 8;
}
