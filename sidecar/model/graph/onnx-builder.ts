/**
 * A minimal helper for writing ONNX graphs by hand with onnx-proto's
 * protobuf classes: nodes with readable names, initializers kept as typed
 * arrays until serialization (so the writer can move them to external data),
 * or as functions that produce them then (a streamed build converts and
 * writes one weight at a time).
 */
import onnxProto from "onnx-proto";

export const { onnx } = onnxProto;
export type INodeProto = onnxProto.onnx.INodeProto;
export type IValueInfoProto = onnxProto.onnx.IValueInfoProto;
export type IAttributeProto = onnxProto.onnx.IAttributeProto;
export type ITensorProto = onnxProto.onnx.ITensorProto;

/** ONNX TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, UINT8: 2, INT64: 7, BOOL: 9, FLOAT16: 10 } as const;

export type AttrValue = number | number[] | string | { float: number };

/** Raw little-endian initializer values: float32, uint8, int64, or float16 bit patterns. */
export type InitializerData = Float32Array | Uint8Array | BigInt64Array | Uint16Array;

const ELEMENT_BYTES: Record<number, number> = { [DataType.FLOAT]: 4, [DataType.UINT8]: 1, [DataType.INT64]: 8, [DataType.FLOAT16]: 2 };

export interface Initializer {
  name: string;
  dims: number[];
  dataType: number;
  /** The values, or a function producing them when the writer gets to this tensor. */
  data: InitializerData | (() => InitializerData);
  /** Size of the values in bytes (known before a lazy tensor is produced). */
  byteLength: number;
}

/** The bytes of an initializer (producing them now if lazy); checks the promised size. */
export function initializerBytes(t: Initializer): Uint8Array {
  const data = typeof t.data === "function" ? t.data() : t.data;
  if (data.byteLength !== t.byteLength) throw new Error(`initializer ${t.name}: ${data.byteLength} bytes, expected ${t.byteLength}`);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** A symbolic (string) or fixed (number) dimension of a graph input/output. */
export type Dim = string | number;

export class GraphBuilder {
  readonly nodes: INodeProto[] = [];
  readonly initializers: Initializer[] = [];
  readonly inputs: IValueInfoProto[] = [];
  readonly outputs: IValueInfoProto[] = [];
  /** Operator domains used besides the default one (e.g. com.microsoft), each with its opset version. */
  readonly domains = new Map<string, number>();
  private readonly used = new Set<string>();

  /**
   * Adds a node and returns the name of its (first) output. `name` is both
   * the node name and its output tensor name unless `outputs` names them.
   */
  op(opType: string, inputs: string[], name: string, attrs: Record<string, AttrValue> = {}, outputs?: string[], domain?: { name: string; version: number }): string {
    const outs = (outputs ?? [name]).map((o) => this.unique(o));
    if (domain) this.domains.set(domain.name, domain.version);
    this.nodes.push({
      opType,
      ...(domain ? { domain: domain.name } : {}),
      name,
      input: inputs,
      output: outs,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return outs[0];
  }

  /** A float32 initializer (values, or a function producing them at write time). */
  f32(name: string, dims: number[], data: Float32Array | (() => Float32Array)): string {
    return this.tensor(name, dims, DataType.FLOAT, data);
  }

  /** An initializer of any DataType; a lazy one is produced when the writer reaches it. */
  tensor(name: string, dims: number[], dataType: number, data: InitializerData | (() => InitializerData)): string {
    const bytes = ELEMENT_BYTES[dataType];
    if (!bytes) throw new Error(`graph builder: initializer ${name} has unsupported data type ${dataType}`);
    this.initializers.push({ name: this.unique(name), dims, dataType, data, byteLength: dims.reduce((a, b) => a * b, 1) * bytes });
    return name;
  }

  /** An int64 initializer from plain numbers (shapes, axes, indices). */
  i64(name: string, values: number[], dims: number[] = [values.length]): string {
    return this.tensor(name, dims, DataType.INT64, BigInt64Array.from(values.map(BigInt)));
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
