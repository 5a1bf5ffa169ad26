import { readFileSync, utimesSync } from "node:fs";
import { dirname, join } from "node:path";
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { ModelChangedError, OnnxDecoder } from "../../engine/decoder.ts";
import { writeTinyModel } from "../../engine/test-support.ts";
import { randomLlama } from "../random-model.ts";
import { MIN_REF_BYTES, readReferringToFile, referToFile } from "./file-refs.ts";
import { onnx } from "./onnx-builder.ts";
import { emptyPast, runStep } from "./test-support.ts";

const w = randomLlama({ dModel: 64, hiddenDim: 96, vocabSize: 300 }, 5);

/** The model at `path` encoded with its weights referred to in the file, as the decoder opens it. */
const leavingWeights = (path: string) => onnx.ModelProto.encode(readReferringToFile(path)).finish();

describe("weights referred to in their own file", () => {
  const { dir } = writeTinyModel(w, "plain");
  const path = join(dir, "model.onnx");

  it("points each inline tensor of MIN_REF_BYTES or more at its own bytes in the file; the rest, and copies, stay inline", () => {
    const file = readFileSync(path);
    const before = onnx.ModelProto.decode(file);
    const inline = new Map(before.graph!.initializer!.map((t) => [t.name!, Uint8Array.from(t.rawData!)]));
    const model = onnx.ModelProto.decode(file);
    const copied = model.graph!.initializer!.find((t) => t.rawData!.byteLength >= MIN_REF_BYTES)!;
    copied.rawData = Uint8Array.from(copied.rawData!); // not a view of the file
    const referred = referToFile(model, file, "model.onnx");
    let moved = 0;
    for (const t of model.graph!.initializer!) {
      const want = inline.get(t.name!)!;
      if (t.dataLocation !== onnx.TensorProto.DataLocation.EXTERNAL) {
        expect(want.byteLength < MIN_REF_BYTES || t === copied, t.name!).toBe(true);
        expect(Uint8Array.from(t.rawData!)).toEqual(want);
        continue;
      }
      const ref = Object.fromEntries(t.externalData!.map((e) => [e.key, e.value]));
      expect(ref.location).toBe("model.onnx");
      const offset = Number(ref.offset);
      expect(Number(ref.length)).toBe(want.byteLength);
      expect(file.subarray(offset, offset + want.byteLength).equals(want)).toBe(true);
      expect(t.rawData!.byteLength).toBe(0);
      moved += want.byteLength;
    }
    expect(moved).toBe(referred);
    expect(referred).toBeGreaterThan(0.9 * (file.byteLength - copied.rawData!.byteLength));
  });

  it("opened from those bytes with the file's folder, gives the logits and cache of the file opened by path, bit for bit", async () => {
    const bytes = leavingWeights(path);
    expect(bytes.byteLength).toBeLessThan(readFileSync(path).byteLength / 10);
    const byPath = await ort.InferenceSession.create(path);
    const byRefs = await ort.InferenceSession.create(bytes, { extra: { session: { model_external_initializers_file_folder_path: dirname(path) } } });
    try {
      const ids = [[1, 17, 250, 3, 99]];
      const step = (s: ort.InferenceSession) => runStep(s, w.config, ids, [[0, 1, 2, 3, 4]], [[1, 1, 1, 1, 1]], emptyPast(w.config, 1));
      const [a, b] = [await step(byPath), await step(byRefs)];
      expect(b.logits).toEqual(a.logits);
      for (let l = 0; l < w.config.nLayers; l++) expect(b.past.keys[l]!.data).toEqual(a.past.keys[l]!.data);
    } finally {
      await byPath.release();
      await byRefs.release();
    }
  });

  it("without that folder, onnxruntime cannot find the weights (the folder is what makes it read them)", async () => {
    await expect(ort.InferenceSession.create(leavingWeights(path))).rejects.toThrow();
  });

  it("the engine refuses a model whose file changed between its read and onnxruntime's, instead of mixing two files' weights", async () => {
    const model = writeTinyModel(w, "plain");
    const file = join(model.dir, "model.onnx");
    const loading = OnnxDecoder.load(model.dir, model.manifest); // has read the file when it returns
    const later = new Date(Date.now() + 60_000);
    utimesSync(file, later, later); // as a rebuild renaming a new file in would
    await expect(loading).rejects.toThrow(ModelChangedError);
    await expect(loading).rejects.toThrow(/model\.onnx changed while it was being loaded/);
    const again = await OnnxDecoder.load(model.dir, model.manifest);
    await again.release();
  });
});
