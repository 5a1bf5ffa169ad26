/**
 * Points a decoded model's inline initializers at their own bytes in the
 * file it was read from, as ONNX external data (location = that file,
 * offset, length), so that the model the engine opens (whole, or cut into
 * segments by sidecar/engine/segmented.ts) carries no weights: onnxruntime
 * reads each tensor from the file when it opens a session.
 *
 * Why: a model under write-model.ts's external-data threshold (1.8 GB) has
 * its weights inline. Opened from its path, onnxruntime parsed all of them
 * into its own copy of the model before making its tensors, and with the
 * sidecar's malloc settings (engine/malloc-env.ts) the heap kept that
 * memory; cut into segments and encoded, they were in memory once more
 * until the next garbage collection.
 *

 * protobufjs decodes a `bytes` field from a Node Buffer as a view into it,
 * so a tensor's offset in the file is its view's offset in the buffer.
 * Anything that is not such a view (a copy, float_data) stays inline.
 */
import { readFileSync, statSync } from "node:fs";
import { basename } from "node:path";
import { onnx } from "./onnx-builder.ts";

type ModelProto = InstanceType<typeof onnx.ModelProto>;

/** Tensors below this many bytes stay inline (one file read each is not worth it). */
export const MIN_REF_BYTES = 4096;

/**
 * Rewrites, in place, every initializer of `model` (decoded from `file`,
 * whose name relative to the folder onnxruntime resolves external data in
 * is `location`) whose raw data is a view of `file` of at least
 * MIN_REF_BYTES into an external reference to those bytes. Returns the
 * bytes so referred to.
 */
export function referToFile(model: ModelProto, file: Uint8Array, location: string): number {
  let referred = 0;
  for (const t of model.graph?.initializer ?? []) {
    const raw = t.rawData;
    if (!raw || raw.byteLength < MIN_REF_BYTES || raw.buffer !== file.buffer) continue;
    const offset = raw.byteOffset - file.byteOffset;
    if (offset < 0 || offset + raw.byteLength > file.byteLength) continue;
    t.rawData = new Uint8Array(0);
    t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
    t.externalData = [
      onnx.StringStringEntryProto.create({ key: "location", value: location }),
      onnx.StringStringEntryProto.create({ key: "offset", value: String(offset) }),
      onnx.StringStringEntryProto.create({ key: "length", value: String(raw.byteLength) }),
    ];
    referred += raw.byteLength;
  }
  return referred;
}

/**
 * The model at `path`, decoded, its inline weights referred to in the file
 * itself (referToFile): open it with the file's folder as onnxruntime's
 * external-data folder.
 */
export function readReferringToFile(path: string): ModelProto {
  const bytes = readFileSync(path);
  const model = onnx.ModelProto.decode(bytes);
  referToFile(model, bytes, basename(path));
  return model;
}

/**
 * What identifies a file's contents cheaply (inode, size, modification time):
 * a model opened with references into its file must not see the file
 * replaced between reading it and onnxruntime reading the tensors.
 */
export function fileStamp(path: string): string {
  const s = statSync(path);
  return `${s.ino}:${s.size}:${s.mtimeMs}`;
}
