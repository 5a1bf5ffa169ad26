import { describe, expect, it } from "vitest";
import { builtModel } from "../../test/support/models.ts";
import { readManifest } from "../model/manifest.ts";
import { OnnxDecoder } from "./decoder.ts";

describe("OnnxDecoder", () => {
  it("falls back to CPU with a warning when CUDA is asked for but unavailable", async () => {
    const dir = await builtModel("stories260K");
    const warnings: string[] = [];
    const d = await OnnxDecoder.load(dir, readManifest(dir), { device: "cuda", intraOpThreads: 1, warn: (m) => warnings.push(m) });
    if (d.device === "cpu") {
      // This machine has no CUDA build of onnxruntime (CI never does).
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/CUDA execution provider unavailable.*falling back to CPU/);
    } else {
      expect(warnings).toEqual([]);
    }
    // Either way the session runs: one prefill step of BOS.
    const m = d.manifest.dims;
    const empty = Array.from({ length: m.nLayers }, () => new Float32Array(0));
    const out = await d.step({ batch: 1, seq: 1, inputIds: new BigInt64Array([1n]), positionIds: new BigInt64Array([0n]), attentionMask: new BigInt64Array([1n]), pastKeys: empty, pastValues: empty, pastLength: 0 });
    expect(out.logits).toHaveLength(m.vocabSize);
    expect(out.presentKeys[0]).toHaveLength(m.nKvHeads * m.headDim);
    await d.release();
  });
});
