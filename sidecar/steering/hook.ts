/**
 * The steering hook inside the ONNX graph (DESIGN.md "Steering math"; names
 * and per-step inputs in ./names.ts). One hook reads a residual-stream tensor
 * T ([B, S, dModel]) and produces `steer.L{L}.out`; every former consumer of T
 * reads that instead (T itself stays, unsteered, so it can remain a graph
 * output). The SAE's tensors are initializers; a request only names feature
 * indices, modes, values, a gate and a strength per row, and a position mask.
 *
 *   x    = T
 *   xs   = x - b_dec                       (x when the SAE does not subtract b_dec)
 *   pre  = xs . W_enc[:, idx] + b_enc[idx]  [B, S, K]  (ReLU/JumpReLU: gathered columns only;
 *                                                       TopK: every feature, then gathered)
 *   f    = act(pre)                        ReLU; JumpReLU: pre > threshold; TopK: pre >= k-th largest
 *   a    = clamp: s*c  scale: 0           add: s*c
 *   b    = clamp: -1   scale: s*(k - 1)   add: 0
 *   cond = sum_j cond_weights_j f_j        [B, S]  (conditional steering: the condition's value)
 *   out  = gate != 0 and position on and not cond < cond_threshold
 *            ? x + sum_j (a_j + b_j f_j) W_dec[idx_j] : x   (Where: bit-exact no-op)
 *
 * Rows without a condition get threshold -Infinity and weights 0, so they
 * always pass ("not below" rather than ">=" so that even a NaN value passes
 * them; a conditional row whose value is NaN is steered: fail closed).
 *
 * All of that is the then-branch of an If on "some row's gate is non-zero";
 * the else-branch passes x through, so a batch nobody steers pays for a
 * ReduceMax and the If only (TopK's full encoder included).
 *
 * The same code serves the builder (a GraphBuilder, before serialization) and
 * graph surgery on an existing ModelProto (./surgery.ts).
 */
import type { Sae } from "../sae/types.ts";
import { DataType, GraphBuilder, initializerBytes, onnx, type IAttributeProto, type INodeProto, type ITensorProto } from "../model/graph/onnx-builder.ts";
import * as S from "./names.ts";

/** What a hook bakes in, recorded in the model's metadata and manifest. */
export interface HookRecord {
  /** The hook's interface version (names.ts HOOK_FORMAT); absent in hooks from before conditional steering. */
  format?: number;
  layer: number;
  /** The residual-stream tensor the hook reads. */
  tensor: string;
  /** The baked SAE, or null for an empty hook (a place to attach one). */
  sae: null | {
    architecture: Sae["architecture"];
    dIn: number;
    dSae: number;
    k: number | null;
    /** Folder it was loaded from (absolute), when known. */
    dir: string | null;
    /** Hash of the SAE's files (see saeDirHash), when known. */
    sha256: string | null;
  };
}

export interface HookSpec {
  layer: number;
  sae: Sae | null;
  dir?: string | null;
  sha256?: string | null;
}

/** [rows, cols] -> [cols, rows] */
function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c];
  return out;
}

export function checkSae(sae: Sae, dModel: number): void {
  const where = sae.source || "SAE";
  if (sae.dIn !== dModel) throw new Error(`${where}: d_in ${sae.dIn} does not match the model's d_model ${dModel}`);
  const need = (name: string, a: Float32Array | undefined, n: number) => {
    if (!a || a.length !== n) throw new Error(`${where}: ${name} has ${a?.length ?? 0} values, expected ${n}`);
  };
  need("W_enc", sae.wEnc, sae.dIn * sae.dSae);
  need("W_dec", sae.wDec, sae.dIn * sae.dSae);
  need("b_enc", sae.bEnc, sae.dSae);
  need("b_dec", sae.bDec, sae.dIn);
  if (sae.architecture === "jumprelu") need("threshold", sae.threshold, sae.dSae);
  if (sae.architecture === "topk" && !(Number.isInteger(sae.k) && sae.k! >= 1 && sae.k! <= sae.dSae)) {
    throw new Error(`${where}: k must be an integer from 1 to d_sae ${sae.dSae}, got ${sae.k}`);
  }
}

/**
 * Emits the hook for `layer` reading `source` into `g` (nodes, inputs,
 * initializers, the acts output). Does not rewire consumers. Returns the
 * output tensor name (`steer.L{L}.out`).
 */
export function emitHook(g: GraphBuilder, source: string, layer: number, sae: Sae | null): string {
  const p = S.hookPrefix(layer);
  const x = g.op("Identity", [source], `${p}/in`, {}, [S.steerIn(layer)]);
  if (!sae) return g.op("Identity", [x], `${p}/out`, {}, [S.steerOut(layer)]);
  const D = sae.dIn;
  const F = sae.dSae;
  const kDim = `steer_L${layer}_k`;
  const features = g.input(S.steerFeatures(layer), DataType.INT64, ["batch_size", kDim]);
  const modes = g.input(S.steerModes(layer), DataType.INT64, ["batch_size", kDim]);
  const values = g.input(S.steerValues(layer), DataType.FLOAT, ["batch_size", kDim]);
  const gate = g.input(S.steerGate(layer), DataType.FLOAT, ["batch_size"]);
  const strength = g.input(S.steerStrength(layer), DataType.FLOAT, ["batch_size"]);
  const positions = g.input(S.steerPositions(layer), DataType.FLOAT, ["batch_size", "sequence_length"]);
  const condWeights = g.input(S.steerCondWeights(layer), DataType.FLOAT, ["batch_size", kDim]);
  const condThreshold = g.input(S.steerCondThreshold(layer), DataType.FLOAT, ["batch_size"]);
  g.output(S.steerActs(layer), DataType.FLOAT, ["batch_size", "sequence_length", kDim]);
  g.output(S.steerCond(layer), DataType.FLOAT, ["batch_size", "sequence_length"]);

  // The hook's work runs in the then-branch of an If that is taken only when
  // some row's gate is non-zero: a batch nobody steers pays three tiny ops.
  // Its initializers live in the main graph (branches read outer-scope values).
  const t = new GraphBuilder();
  const thenActs = `${p}/then/acts`;
  const thenCond = `${p}/then/cond`;

  const ax1 = t.i64(`${p}.axes_1`, [1]);
  const axLast = t.i64(`${p}.axes_-1`, [-1]);
  const ax12 = t.i64(`${p}.axes_1_2`, [1, 2]);
  const zero = t.scalar(`${p}.zero`, 0);
  const one = t.scalar(`${p}.one`, 1);
  const minusOne = t.scalar(`${p}.minus_one`, -1);
  const clampCode = t.i64(`${p}.mode_clamp`, [S.MODE_CODE.clamp], []);
  const scaleCode = t.i64(`${p}.mode_scale`, [S.MODE_CODE.scale], []);

  // ---- encoder: f [B, S, K] ----
  const xs = sae.applyBDecToInput ? t.op("Sub", [x, t.f32(`${p}.b_dec`, [D], sae.bDec)], `${p}/enc/sub_b_dec`) : x;
  const bEnc = t.f32(`${p}.b_enc`, [F], sae.bEnc);
  let f: string;
  if (sae.architecture === "topk") {
    const wEnc = t.f32(`${p}.W_enc`, [D, F], sae.wEnc);
    const preAll = t.op("Add", [t.op("MatMul", [xs, wEnc], `${p}/enc/MatMul`), bEnc], `${p}/enc/pre_all`); // [B,S,F]
    const topVals = t.op("TopK", [preAll, t.i64(`${p}.k`, [sae.k!])], `${p}/enc/TopK`, { axis: -1, largest: 1, sorted: 1 }, [`${p}/enc/top_values`, `${p}/enc/top_indices`]);
    const kth = t.op("Slice", [topVals, t.i64(`${p}.k_minus_1`, [sae.k! - 1]), t.i64(`${p}.k_end`, [sae.k!]), axLast], `${p}/enc/kth`); // [B,S,1]
    const bs = t.op("Slice", [t.op("Shape", [x], `${p}/enc/x_shape`), t.i64(`${p}.s0`, [0]), t.i64(`${p}.s2`, [2])], `${p}/enc/bs`);
    const kk = t.op("Slice", [t.op("Shape", [features], `${p}/enc/f_shape`), t.i64(`${p}.s1`, [1]), t.i64(`${p}.s2b`, [2])], `${p}/enc/k`);
    const idx = t.op("Expand", [t.op("Unsqueeze", [features, ax1], `${p}/enc/idx_b1k`), t.op("Concat", [bs, kk], `${p}/enc/bsk`, { axis: 0 })], `${p}/enc/idx`);
    const pre = t.op("GatherElements", [preAll, idx], `${p}/enc/pre`, { axis: -1 }); // [B,S,K]
    f = t.op("Where", [t.op("GreaterOrEqual", [pre, kth], `${p}/enc/in_topk`), t.op("Relu", [pre], `${p}/enc/relu`), zero], thenActs);
  } else {
    const wEncT = t.f32(`${p}.W_enc_T`, [F, D], transpose(sae.wEnc, D, F));
    const cols = t.op("Transpose", [t.op("Gather", [wEncT, features], `${p}/enc/rows`, { axis: 0 })], `${p}/enc/cols`, { perm: [0, 2, 1] }); // [B,D,K]
    const bias = t.op("Unsqueeze", [t.op("Gather", [bEnc, features], `${p}/enc/b_sel`, { axis: 0 }), ax1], `${p}/enc/b_b1k`); // [B,1,K]
    const pre = t.op("Add", [t.op("MatMul", [xs, cols], `${p}/enc/MatMul`), bias], `${p}/enc/pre`); // [B,S,K]
    const relu = t.op("Relu", [pre], `${p}/enc/relu`);
    if (sae.architecture === "jumprelu") {
      const thr = t.f32(`${p}.threshold`, [F], sae.threshold!);
      const thrSel = t.op("Unsqueeze", [t.op("Gather", [thr, features], `${p}/enc/t_sel`, { axis: 0 }), ax1], `${p}/enc/t_b1k`);
      f = t.op("Where", [t.op("Greater", [pre, thrSel], `${p}/enc/above`), relu, zero], thenActs);
    } else {
      f = t.op("Identity", [relu], thenActs);
    }
  }

  // ---- coefficients: a + b f, per row and feature ----
  const s = t.op("Unsqueeze", [strength, ax1], `${p}/coef/s`); // [B,1]
  const isClamp = t.op("Equal", [modes, clampCode], `${p}/coef/is_clamp`);
  const isScale = t.op("Equal", [modes, scaleCode], `${p}/coef/is_scale`);
  const sv = t.op("Mul", [values, s], `${p}/coef/s_value`);
  const a = t.op("Where", [isScale, zero, sv], `${p}/coef/a`); // clamp, add: s*c
  const scaleB = t.op("Mul", [t.op("Sub", [values, one], `${p}/coef/k_minus_1`), s], `${p}/coef/scale_b`);
  const b = t.op("Where", [isClamp, minusOne, t.op("Where", [isScale, scaleB, zero], `${p}/coef/b_scale`)], `${p}/coef/b`);
  const coef = t.op("Add", [
    t.op("Unsqueeze", [a, ax1], `${p}/coef/a_b1k`),
    t.op("Mul", [t.op("Unsqueeze", [b, ax1], `${p}/coef/b_b1k`), f], `${p}/coef/bf`),
  ], `${p}/coef/total`); // [B,S,K]

  // ---- decoder directions and the gated update ----
  const wDec = t.f32(`${p}.W_dec`, [F, D], sae.wDec);
  const dirs = t.op("Gather", [wDec, features], `${p}/dec/dirs`, { axis: 0 }); // [B,K,D]
  const steered = t.op("Add", [x, t.op("MatMul", [coef, dirs], `${p}/dec/delta`)], `${p}/dec/steered`);
  const gateOn = t.op("Not", [t.op("Equal", [gate, zero], `${p}/gate/is_zero`)], `${p}/gate/on`); // [B]
  const posOn = t.op("Not", [t.op("Equal", [positions, zero], `${p}/gate/pos_zero`)], `${p}/gate/pos_on`); // [B,S]

  // ---- the condition: its value per position, and whether it lets the row through ----
  const condBs1 = t.op("MatMul", [f, t.op("Unsqueeze", [condWeights, axLast], `${p}/cond/w_bk1`)], `${p}/cond/value_bs1`); // [B,S,1]
  t.op("Squeeze", [condBs1, axLast], thenCond); // [B,S]
  const condOn = t.op("Not", [
    t.op("Less", [condBs1, t.op("Unsqueeze", [condThreshold, ax12], `${p}/cond/thr_b11`)], `${p}/cond/below`),
  ], `${p}/cond/on`); // [B,S,1]
  const on = t.op("And", [
    t.op("And", [
      t.op("Unsqueeze", [gateOn, ax12], `${p}/gate/on_b11`),
      t.op("Unsqueeze", [posOn, axLast], `${p}/gate/pos_bs1`),
    ], `${p}/gate/row_pos`),
    condOn,
  ], `${p}/gate/mask`); // [B,S,1]
  const thenOut = t.op("Where", [on, steered, x], `${p}/then/out`);
  g.initializers.push(...t.initializers);

  const anyOn = g.op("Greater", [
    g.op("ReduceMax", [g.op("Abs", [gate], `${p}/gate/abs`)], `${p}/gate/max`, { keepdims: 0 }),
    g.scalar(`${p}.if_zero`, 0),
  ], `${p}/gate/any`); // bool scalar
  const e = new GraphBuilder();
  const elseOut = e.op("Identity", [x], `${p}/else/out`);
  const elseActs = e.op("Identity", [g.f32(`${p}.no_acts`, [0, 0, 0], new Float32Array(0))], `${p}/else/acts`);
  const elseCond = e.op("Identity", [g.f32(`${p}.no_cond`, [0, 0], new Float32Array(0))], `${p}/else/cond`);
  const branch = (name: string, body: GraphBuilder, outs: string[]): IAttributeProto => ({
    name,
    type: onnx.AttributeProto.AttributeType.GRAPH,
    g: { name: `${p}/${name}`, node: body.nodes, output: outs.map((o) => ({ name: o, type: { tensorType: { elemType: DataType.FLOAT } } })) },
  });
  g.nodes.push({
    opType: "If",
    name: `${p}/if`,
    input: [anyOn],
    output: [S.steerOut(layer), S.steerActs(layer), S.steerCond(layer)],
    attribute: [branch("then_branch", t, [thenOut, thenActs, thenCond]), branch("else_branch", e, [elseOut, elseActs, elseCond])],
  });
  return S.steerOut(layer);
}

export function hookRecord(tensor: string, spec: HookSpec): HookRecord {
  const s = spec.sae;
  return {
    format: S.HOOK_FORMAT,
    layer: spec.layer,
    tensor,
    sae: s && {
      architecture: s.architecture, dIn: s.dIn, dSae: s.dSae, k: s.architecture === "topk" ? s.k ?? null : null,
      dir: spec.dir ?? null, sha256: spec.sha256 ?? null,
    },
  };
}

const isHookName = (name: string | null | undefined, layer: number) =>
  !!name && (name.startsWith(`${S.hookPrefix(layer)}/`) || name.startsWith(`${S.hookPrefix(layer)}.`));

/** Rewires consumers of `tensor` to the hook output and inserts the hook's nodes after its producer. */
function spliceNodes(nodes: INodeProto[], tensor: string, layer: number, hookNodes: INodeProto[]): void {
  const out = S.steerOut(layer);
  for (const n of nodes) n.input = (n.input ?? []).map((i) => (i === tensor ? out : i));
  const producer = nodes.findIndex((n) => (n.output ?? []).includes(tensor));
  nodes.splice(producer + 1, 0, ...hookNodes);
}

/**
 * Adds hooks to a graph under construction (the builder's path). `tensorOf`
 * names each layer's residual tensor. Returns the records for metadata.
 */
export function addHooksToBuilder(g: GraphBuilder, hooks: HookSpec[], tensorOf: (layer: number) => string, dModel: number): HookRecord[] {
  return hooks.map((spec) => {
    if (spec.sae) checkSae(spec.sae, dModel);
    const tensor = tensorOf(spec.layer);
    const h = new GraphBuilder();
    emitHook(h, tensor, spec.layer, spec.sae);
    spliceNodes(g.nodes, tensor, spec.layer, h.nodes);
    g.initializers.push(...h.initializers);
    g.inputs.push(...h.inputs);
    g.outputs.push(...h.outputs);
    return hookRecord(tensor, spec);
  });
}

// ---------------------------------------------------------------------------
// ModelProto (surgery on a serialized model)

type ModelProto = InstanceType<typeof onnx.ModelProto>;

/** The hooks recorded in a model's metadata (empty when none). */
export function readHookRecords(model: ModelProto): HookRecord[] {
  const prop = (model.metadataProps ?? []).find((m) => m.key === S.HOOK_METADATA_KEY);
  return prop?.value ? (JSON.parse(prop.value) as HookRecord[]) : [];
}

function writeHookRecords(model: ModelProto, records: HookRecord[]): void {
  const props = (model.metadataProps ?? []).filter((m) => m.key !== S.HOOK_METADATA_KEY);
  props.push(onnx.StringStringEntryProto.create({ key: S.HOOK_METADATA_KEY, value: JSON.stringify([...records].sort((a, b) => a.layer - b.layer)) }));
  model.metadataProps = props;
}

/**
 * Removes the hook at `layer` (nodes, initializers, inputs, outputs) and
 * returns the tensor it read, or null when the layer has no hook. Consumers
 * keep reading `steer.L{L}.out`, so a new hook can take its place.
 */
export function removeHook(model: ModelProto, layer: number): string | null {
  const graph = model.graph!;
  const inNode = (graph.node ?? []).find((n) => n.name === `${S.hookPrefix(layer)}/in`);
  if (!inNode) return null;
  const source = inNode.input![0]!;
  graph.node = (graph.node ?? []).filter((n) => !isHookName(n.name, layer));
  graph.initializer = (graph.initializer ?? []).filter((t) => !isHookName(t.name, layer));
  graph.input = (graph.input ?? []).filter((t) => !isHookName(t.name, layer));
  graph.output = (graph.output ?? []).filter((t) => !isHookName(t.name, layer));
  writeHookRecords(model, readHookRecords(model).filter((r) => r.layer !== layer));
  return source;
}

function toTensorProto(t: GraphBuilder["initializers"][number]): ITensorProto {
  return { name: t.name, dims: t.dims, dataType: t.dataType, rawData: initializerBytes(t) };
}

/**
 * Inserts (or replaces) the hook at `layer` reading `tensor` in a ModelProto.
 * When the layer already has a hook it is replaced and `tensor` may be
 * omitted (the old hook's input is reused).
 */
export function insertHookIntoModel(model: ModelProto, spec: HookSpec, tensor: string | null, dModel: number): HookRecord {
  if (spec.sae) checkSae(spec.sae, dModel);
  const graph = model.graph!;
  const previous = removeHook(model, spec.layer);
  const source = tensor ?? previous;
  if (!source) throw new Error(`layer ${spec.layer} has no hook yet: name the residual tensor to hook`);
  if (previous && tensor && previous !== tensor) throw new Error(`layer ${spec.layer} is already hooked at ${previous}, not ${tensor}`);
  const nodes = graph.node ?? [];
  const produced = nodes.some((n) => (n.output ?? []).includes(source)) || (graph.input ?? []).some((i) => i.name === source);
  if (!produced) throw new Error(`no tensor named ${source} in the graph`);
  const h = new GraphBuilder();
  emitHook(h, source, spec.layer, spec.sae);
  spliceNodes(nodes, source, spec.layer, h.nodes);
  graph.node = nodes;
  graph.initializer = [...(graph.initializer ?? []), ...h.initializers.map(toTensorProto)] as typeof graph.initializer;
  graph.input = [...(graph.input ?? []), ...h.inputs] as typeof graph.input;
  graph.output = [...(graph.output ?? []), ...h.outputs] as typeof graph.output;
  const record = hookRecord(source, spec);
  writeHookRecords(model, [...readHookRecords(model), record]);
  return record;
}

export { writeHookRecords as setHookRecords };
