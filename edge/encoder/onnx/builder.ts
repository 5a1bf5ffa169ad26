/**
 * A small ONNX graph builder for the edge (the sidecar has its own; edge and
 * sidecar share only proto/): nodes, float32/int64 initializers, inputs and
 * outputs, serialized in memory to ModelProto bytes with onnx-proto. The
 * encoder's graph is ~28 MB of weights, so everything stays inline.
 */
import onnxProto from "onnx-proto";

const { onnx } = onnxProto;
type INodeProto = onnxProto.onnx.INodeProto;
type IValueInfoProto = onnxProto.onnx.IValueInfoProto;
type ITensorProto = onnxProto.onnx.ITensorProto;
type IAttributeProto = onnxProto.onnx.IAttributeProto;

/** ONNX TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, INT32: 6, INT64: 7 } as const;

/** Attribute values: int, ints, float ({ f }) or string. */
export type Attr = number | number[] | { f: number } | string;

const OPSET = 17;
const IR_VERSION = 8;

export class OnnxGraph {
  private readonly nodes: INodeProto[] = [];
  private readonly initializers: ITensorProto[] = [];
  private readonly inputs: IValueInfoProto[] = [];
  private readonly outputs: IValueInfoProto[] = [];
  private readonly names = new Set<string>();

  /** Adds a node named `name`; its outputs are `name` (one) or `name:0`, `name:1`... (n > 1). */
  op(opType: string, inputs: string[], name: string, attrs: Record<string, Attr> = {}, nOutputs = 1): string {
    const output = nOutputs === 1 ? [this.claim(name)] : Array.from({ length: nOutputs }, (_, i) => this.claim(`${name}:${i}`));
    this.nodes.push({ opType, name, input: inputs, output, attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)) });
    return output[0]!;
  }

  /** A float32 initializer (the array is referenced, not copied, until serialization). */
  f32(name: string, dims: number[], data: Float32Array): string {
    const n = dims.reduce((a, b) => a * b, 1);
    if (data.length !== n) throw new Error(`onnx graph: initializer ${name} has ${data.length} values, shape [${dims}] needs ${n}`);
    this.initializers.push({ name: this.claim(name), dims, dataType: DataType.FLOAT, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
    return name;
  }

  /** An int64 initializer (shapes, axes, split sizes); `dims` [] for a scalar. */
  i64(name: string, values: number[], dims: number[] = [values.length]): string {
    const data = BigInt64Array.from(values, BigInt);
    this.initializers.push({ name: this.claim(name), dims, dataType: DataType.INT64, rawData: new Uint8Array(data.buffer) });
    return name;
  }

  /** A float32 scalar initializer. */
  scalar(name: string, value: number): string {
    return this.f32(name, [], new Float32Array([value]));
  }

  input(name: string, elemType: number, dims: (string | number)[]): string {
    this.inputs.push(valueInfo(this.claim(name), elemType, dims));
    return name;
  }

  output(name: string, elemType: number, dims: (string | number)[]): void {
    this.outputs.push(valueInfo(name, elemType, dims));
  }

  /** The ModelProto bytes (default opset 17), for onnxruntime's InferenceSession.create. */
  serialize(graphName: string, metadata: Record<string, string> = {}): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: IR_VERSION,
      opsetImport: [{ domain: "", version: OPSET }],
      producerName: "steerguard-edge",
      graph: { name: graphName, node: this.nodes, initializer: this.initializers, input: this.inputs, output: this.outputs },
      metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
    });
    return onnx.ModelProto.encode(model).finish();
  }

  private claim(name: string): string {
    if (this.names.has(name)) throw new Error(`onnx graph: duplicate name ${name}`);
    this.names.add(name);
    return name;
  }
}

function attribute(name: string, v: Attr): IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === "number") return { name, type: T.INT, i: v };
  if (typeof v === "string") return { name, type: T.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: T.INTS, ints: v };
  return { name, type: T.FLOAT, f: v.f };
}

function valueInfo(name: string, elemType: number, dims: (string | number)[]): IValueInfoProto {
  return { name, type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) } } } };
}
