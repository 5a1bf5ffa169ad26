/**
 * A model file's metadata (ONNX ModelProto.metadata_props) without reading
 * its graph: the top-level protobuf fields are walked with positioned reads
 * and every field but metadata_props is skipped over, so checking a hook's
 * record of a model with inline weights does not read the weights.
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { onnx } from "../model/graph/onnx-builder.ts";
import type { HookRecord } from "./hook.ts";
import { HOOK_METADATA_KEY } from "./names.ts";

/** ModelProto's metadata_props field number. */
const METADATA_PROPS = 14;

/** The metadata_props of the ONNX model in `file`, as key -> value. */
export function readModelMetadata(file: string): Map<string, string> {
  const fd = openSync(file, "r");
  try {
    const size = fstatSync(fd).size;
    const out = new Map<string, string>();
    const head = Buffer.alloc(20);
    let pos = 0;
    while (pos < size) {
      const got = readSync(fd, head, 0, Math.min(head.length, size - pos), pos);
      let at = 0;
      const varint = (): number => {
        let v = 0;
        for (let shift = 1; ; shift *= 128) {
          if (at >= got) throw new Error(`${file}: truncated ONNX model`);
          const b = head[at++]!;
          v += (b & 0x7f) * shift;
          if (b < 0x80) return v;
        }
      };
      const tag = varint();
      const field = Math.floor(tag / 8);
      const wire = tag % 8;
      if (wire === 0) {
        varint();
        pos += at;
        continue;
      }
      if (wire !== 2) throw new Error(`${file}: unexpected protobuf wire type ${wire} at the top level of the ONNX model`);
      const len = varint();
      pos += at;
      if (field === METADATA_PROPS) {
        const body = Buffer.alloc(len);
        readSync(fd, body, 0, len, pos);
        const entry = onnx.StringStringEntryProto.decode(body);
        if (entry.key) out.set(entry.key, entry.value ?? "");
      }
      pos += len;
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

/** The hook records in a model file's metadata (empty when none). */
export function readHookRecordsFromFile(file: string): HookRecord[] {
  const json = readModelMetadata(file).get(HOOK_METADATA_KEY);
  return json ? (JSON.parse(json) as HookRecord[]) : [];
}
