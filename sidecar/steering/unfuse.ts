/**
 * Splits a fused residual-add-and-norm node back into its two halves, so the
 * residual stream between them can be hooked.
 *
 * onnxruntime's contrib ops SkipSimplifiedLayerNormalization and
 * SkipLayerNormalization (com.microsoft) take (input, skip, gamma[, beta][, bias])
 * and give (output, mean, inv_std_var, input_skip_bias_sum): the sum
 * input + skip (+ bias) is the residual stream, and output 0 is its norm,
 * computed inside the node from the sum before anything downstream could
 * change it. A hook on the 4th output would steer the next residual add but
 * not the norm that feeds the next block. Unfused, the norm reads the sum
 * as a tensor, and the hook's rewiring reaches it like any other consumer:
 *
 *   Add(input, skip) [-> Add(., bias)] -> sum -> SimplifiedLayerNormalization (or LayerNormalization) -> output
 *
 * The sum keeps the node's 4th output name; when the node had none (a final
 * norm whose sum nothing else reads), the caller names it.
 */
import { onnx, type IAttributeProto, type INodeProto } from "../model/graph/onnx-builder.ts";

type ModelProto = InstanceType<typeof onnx.ModelProto>;

/** The fused ops, each with the plain norm it unfuses into (default ONNX domain). */
const UNFUSED_NORM: Record<string, string> = {
  SkipSimplifiedLayerNormalization: "SimplifiedLayerNormalization",
  SkipLayerNormalization: "LayerNormalization",
};

/** onnxruntime's default epsilon for both fused ops (contrib kDefaultSkipLayerNormEpsilon). */
const FUSED_DEFAULT_EPSILON = 1e-12;

export function isFusedSkipNorm(node: INodeProto): boolean {
  return (node.opType ?? "") in UNFUSED_NORM && (node.domain ?? "") === "com.microsoft";
}

/** The residual sum (4th output) of a fused node, or null when the node does not output it. */
export function fusedSumOutput(node: INodeProto): string | null {
  return node.output?.[3] || null;
}

/** The names of (input, skip, gamma, beta, bias) of a fused node; absent ones are "". */
function fusedInputs(node: INodeProto) {
  const i = (k: number) => node.input?.[k] ?? "";
  return node.opType === "SkipLayerNormalization"
    ? { input: i(0), skip: i(1), gamma: i(2), beta: i(3), bias: i(4) }
    : { input: i(0), skip: i(1), gamma: i(2), beta: "", bias: i(3) };
}

function epsilonOf(node: INodeProto): number {
  const a = (node.attribute ?? []).find((x) => x.name === "epsilon");
  return a?.f ?? FUSED_DEFAULT_EPSILON;
}

/** Throws when a graph node or graph output reads the fused node's mean or inv_std_var output. */
function checkStatsUnused(model: ModelProto, node: INodeProto): void {
  const graph = model.graph!;
  for (const k of [1, 2]) {
    const t = node.output?.[k];
    if (!t) continue;
    const what = k === 1 ? "mean" : "inv_std_var";
    const reader = (graph.node ?? []).find((n) => n !== node && (n.input ?? []).includes(t));
    if (reader) {
      throw new Error(
        `${node.opType} node ${node.name}: its ${what} output ${t} is read by ${reader.opType} node ${reader.name}; ` +
          "unfusing it would drop that output, so the residual there cannot be hooked",
      );
    }
    if ((graph.output ?? []).some((o) => o.name === t)) {
      throw new Error(`${node.opType} node ${node.name}: its ${what} output ${t} is a graph output; unfusing it would drop that output`);
    }
  }
}

const floatAttr = (name: string, f: number): IAttributeProto => ({ name, f, type: onnx.AttributeProto.AttributeType.FLOAT });
const intAttr = (name: string, i: number): IAttributeProto => ({ name, i, type: onnx.AttributeProto.AttributeType.INT });

/**
 * Replaces fused node `node` of `model` (in place, at the same position) by
 * an Add (two with a bias) and the plain norm. Returns the sum's tensor name:
 * the node's 4th output, or `sumName` when it had none. Refuses (throws) when
 * something reads the node's mean or inv_std_var, or it is not a fused norm.
 */
export function unfuseSkipNorm(model: ModelProto, node: INodeProto, sumName?: string): string {
  if (!isFusedSkipNorm(node)) throw new Error(`${node.opType} node ${node.name} is not a fused Skip*LayerNormalization`);
  const graph = model.graph!;
  const nodes = graph.node ?? [];
  const at = nodes.indexOf(node);
  if (at < 0) throw new Error(`${node.opType} node ${node.name} is not in the graph`);
  checkStatsUnused(model, node);
  const sum = fusedSumOutput(node) ?? sumName;
  if (!sum) throw new Error(`${node.opType} node ${node.name} has no residual-sum output: name one`);
  if (!fusedSumOutput(node) && nodes.some((n) => (n.output ?? []).includes(sum))) {
    throw new Error(`cannot name the residual sum of ${node.name} ${sum}: a tensor of that name exists`);
  }
  const { input, skip, gamma, beta, bias } = fusedInputs(node);
  const base = node.name || `${node.opType}_${at}`;
  const added: INodeProto[] = [];
  const skipSum = bias ? `${base}/unfused/input_skip_sum` : sum;
  added.push({ opType: "Add", name: `${base}/unfused/Add`, input: [input, skip], output: [skipSum] });
  if (bias) added.push({ opType: "Add", name: `${base}/unfused/AddBias`, input: [skipSum, bias], output: [sum] });
  added.push({
    opType: UNFUSED_NORM[node.opType!],
    name: `${base}/unfused/Norm`,
    input: beta ? [sum, gamma, beta] : [sum, gamma],
    output: [node.output![0]!],
    // stash_type 1: statistics in float32, as the fused kernels compute them.
    attribute: [intAttr("axis", -1), floatAttr("epsilon", epsilonOf(node)), intAttr("stash_type", 1)],
  });
  nodes.splice(at, 1, ...added);
  graph.node = nodes;
  const dropped = new Set([node.output?.[1], node.output?.[2]].filter((t): t is string => !!t));
  if (dropped.size) graph.valueInfo = (graph.valueInfo ?? []).filter((v) => !dropped.has(v.name ?? ""));
  return sum;
}
