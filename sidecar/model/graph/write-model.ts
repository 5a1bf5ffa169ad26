/**
 * Serializes a GraphBuilder as an ONNX ModelProto file. Initializers are
 * stored inline unless the weights are too large for one protobuf (2 GiB
 * limit); then every initializer of 1 KiB or more goes to an external data
 * file beside the model (`model.onnx_data`, the name Optimum uses), which
 * onnxruntime resolves relative to the model path.
 *
 * Lazy initializers (a streamed build) are produced one at a time, written
 * and dropped, so only one tensor is in memory at once, when the weights go
 * to external data (past LAZY_INLINE_LIMIT in "auto" mode).
 */
import { closeSync, openSync, writeFileSync, writeSync, rmSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { initializerBytes, onnx, type GraphBuilder, type ITensorProto } from "./onnx-builder.ts";

export const OPSET = 17;
export const IR_VERSION = 8;
/** Above this many weight bytes the model uses external data in "auto" mode. */
export const EXTERNAL_DATA_THRESHOLD = 1.8e9;
/**
 * A graph with lazy initializers (a streamed build) above this many bytes
 * uses external data in "auto" mode: inline weights would all be in memory
 * at once (twice: the protobuf and its encoding).
 */
export const LAZY_INLINE_LIMIT = 256 * 2 ** 20;
const EXTERNAL_MIN_BYTES = 1024;
const EXTERNAL_ALIGN = 64;

export interface WriteModelOptions {
  /** "auto" (default): external data only when needed; "always"/"never" force it. */
  externalData?: "auto" | "always" | "never";
  producerVersion?: string;
  /** Stored in the model's metadata_props. */
  metadata?: Record<string, string>;
  /** Called as each initializer is produced (done, total), for progress bars. */
  onTensor?: (done: number, total: number) => void;
}

export interface WrittenModel {
  modelFile: string;
  /** File name of the external data (relative to the model dir), or null. */
  externalDataFile: string | null;
  weightBytes: number;
}

export function writeModel(g: GraphBuilder, modelFile: string, opts: WriteModelOptions = {}): WrittenModel {
  const weightBytes = g.initializers.reduce((n, t) => n + t.byteLength, 0);
  const lazy = g.initializers.some((t) => typeof t.data === "function");
  const mode = opts.externalData ?? "auto";
  const external = mode === "always" || (mode === "auto" && weightBytes > (lazy ? LAZY_INLINE_LIMIT : EXTERNAL_DATA_THRESHOLD));
  const dataName = `${basename(modelFile)}_data`;
  const dataPath = join(dirname(modelFile), dataName);
  rmSync(dataPath, { force: true });

  let fd = -1;
  let offset = 0;
  if (external) fd = openSync(dataPath, "w");
  try {
    const initializer = g.initializers.map((t, i): ITensorProto => {
      const raw = initializerBytes(t);
      opts.onTensor?.(i + 1, g.initializers.length);
      const base = { name: t.name, dims: t.dims, dataType: t.dataType };
      if (!external || raw.byteLength < EXTERNAL_MIN_BYTES) return { ...base, rawData: raw };
      // pad so every tensor starts aligned (lets onnxruntime map it directly)
      const pad = (EXTERNAL_ALIGN - (offset % EXTERNAL_ALIGN)) % EXTERNAL_ALIGN;
      if (pad) writeSync(fd, new Uint8Array(pad));
      offset += pad;
      writeSync(fd, raw);
      const entry = {
        ...base,
        dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
        externalData: [
          { key: "location", value: dataName },
          { key: "offset", value: String(offset) },
          { key: "length", value: String(raw.byteLength) },
        ],
      };
      offset += raw.byteLength;
      return entry;
    });
    const model = onnx.ModelProto.create({
      irVersion: IR_VERSION,
      opsetImport: [{ domain: "", version: OPSET }, ...[...g.domains].map(([domain, version]) => ({ domain, version }))],
      producerName: "steerguard",
      producerVersion: opts.producerVersion ?? "1",
      graph: {
        name: "steerguard_decoder",
        node: g.nodes,
        initializer,
        input: g.inputs,
        output: g.outputs,
      },
      metadataProps: Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value })),
    });
    writeFileSync(modelFile, onnx.ModelProto.encode(model).finish());
  } finally {
    if (fd >= 0) closeSync(fd);
  }
  return { modelFile, externalDataFile: external ? dataName : null, weightBytes };
}

