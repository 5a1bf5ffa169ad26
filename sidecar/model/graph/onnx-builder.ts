/**
 * A minimal helper for writing ONNX graphs by hand with onnx-proto's
 * protobuf classes: nodes with readable names, initializers kept as typed
 * arrays until serialization (so the writer can move them to external data).
 */
import onnxProto from "onnx-proto";

export const { onnx } = onnxProto;
export type INodeProto = onnxProto.onnx.INodeProto;
export type IValueInfoProto = onnxProto.onnx.IValueInfoProto;
export type IAttributeProto = onnxProto.onnx.IAttributeProto;
export type ITensorProto = onnxProto.onnx.ITensorProto;

/** ONNX TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, INT64: 7, BOOL: 9 } as const;

export type AttrValue = number | number[] | string | { float: number };

export interface Initializer {
  name: string;
  dims: number[];
  dataType: (typeof DataType)["FLOAT"] | (typeof DataType)["INT64"];
  data: Float32Array | BigInt64Array;
}

/** A symbolic (string) or fixed (number) dimension of a graph input/output. */
export type Dim = string | number;

export class GraphBuilder {
  readonly nodes: INodeProto[] = [];
  readonly initializers: Initializer[] = [];
  readonly inputs: IValueInfoProto[] = [];
  readonly outputs: IValueInfoProto[] = [];
  private readonly used = new Set<string>();

  /**
   * Adds a node and returns the name of its (first) output. `name` is both
   * the node name and its output tensor name unless `outputs` names them.
   */
  op(opType: string, inputs: string[], name: string, attrs: Record<string, AttrValue> = {}, outputs?: string[]): string {
    const outs = (outputs ?? [name]).map((o) => this.unique(o));
    this.nodes.push({
      opType,
      name,
      input: inputs,
      output: outs,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return outs[0];
  }

  /** A float32 initializer. */
  f32(name: string, dims: number[], data: Float32Array): string {
    this.initializers.push({ name: this.unique(name), dims, dataType: DataType.FLOAT, data });
    return name;
  }

  /** An int64 initializer from plain numbers (shapes, axes, indices). */
  i64(name: string, values: number[], dims: number[] = [values.length]): string {
    this.initializers.push({ name: this.unique(name), dims, dataType: DataType.INT64, data: BigInt64Array.from(values.map(BigInt)) });
    return name;
  }

  /** A float32 scalar initializer. */
  scalar(name: string, value: number): string {
    return this.f32(name, [], new Float32Array([value]));
  }

  input(name: string, elemType: number, dims: Dim[]): string {
    this.inputs.push(valueInfo(name, elemType, dims));
    return name;
  }

  output(name: string, elemType: number, dims: Dim[]): void {
    this.outputs.push(valueInfo(name, elemType, dims));
  }

  private unique(name: string): string {
    if (this.used.has(name)) throw new Error(`graph builder: duplicate name ${name}`);
    this.used.add(name);
    return name;
  }
}

function attribute(name: string, v: AttrValue): IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === "number") return { name, type: T.INT, i: v };
  if (typeof v === "string") return { name, type: T.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: T.INTS, ints: v };
  return { name, type: T.FLOAT, f: v.float };
}

function valueInfo(name: string, elemType: number, dims: Dim[]): IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}
