/** Test helpers for the engine: tiny model folders, greedy tokens through the real scheduler. */
import { join } from "node:path";
import { tempDir } from "../../test/support/tmp.ts";
import { buildLlamaGraph, type AttentionKind } from "../model/graph/llama-graph.ts";
import * as N from "../model/graph/names.ts";
import { writeModel } from "../model/graph/write-model.ts";
import { MANIFEST_FORMAT, type Manifest } from "../model/manifest.ts";
import type { LlamaWeights } from "../model/weights.ts";
import type { Sae } from "../sae/types.ts";
import { addHooksToBuilder } from "../steering/hook.ts";
import { loadModelTokenizer } from "../tokenizer/load.ts";
import type { OnnxDecoder } from "./decoder.ts";
import type { ChunkingOptions } from "./prefill.ts";
import { Scheduler } from "./scheduler.ts";
import { Sequence } from "./sequence.ts";

/**
 * A model directory with only what OnnxDecoder reads: model.onnx (weights
 * inline, or in external data) and a manifest describing it.
 */
export function writeTinyModel(w: LlamaWeights, attention: AttentionKind, hook?: { layer: number; sae: Sae }, externalData: "never" | "always" = "never"): { dir: string; manifest: Manifest } {
  const c = w.config;
  const g = buildLlamaGraph(w, { attention });
  if (hook) addHooksToBuilder(g, [hook], N.residPost, c.dModel);
  const dir = tempDir("sg-tiny-");
  const written = writeModel(g, join(dir, "model.onnx"), { externalData });
  const manifest: Manifest = {
    format: MANIFEST_FORMAT, id: "tiny", builderVersion: 0, architecture: "llama",
    source: { kind: "llama2c", path: "random", sha256: {}, modelType: null },
    dims: {
      vocabSize: c.vocabSize, dModel: c.dModel, nLayers: c.nLayers, nHeads: c.nHeads, nKvHeads: c.nKvHeads,
      headDim: c.headDim, hiddenDim: c.hiddenDim, contextLength: c.contextLength, ropeTheta: c.ropeTheta, rmsNormEps: c.rmsNormEps,
    },
    graph: {
      file: "model.onnx", externalData: written.externalDataFile, opset: 17, sourceRotary: c.rotary, tiedEmbeddings: c.tiedEmbeddings, qkvBias: c.qkvBias,
      residualOutputs: false, precision: { weights: "fp32", blockSize: null }, attention,
    },
    tokenizer: { kind: "llama2c", files: [], bosId: 1, eosId: 2, eosIds: [2], addBos: true },
    chatTemplate: null, specialTokens: [], residualTensors: [], hookedLayers: hook ? [hook.layer] : [],
  };
  return { dir, manifest };
}

/**
 * Greedy tokens for each prompt from one scheduler over `decoder` (KV cache,
 * continuous batching; all prompts submitted at once), EOS not stopping, with
 * `chunking` when given.
 */
export async function schedulerGreedy(decoder: OnnxDecoder, modelDir: string, manifest: Manifest, prompts: number[][], steps: number, chunking?: ChunkingOptions): Promise<number[][]> {
  const tokenizer = await loadModelTokenizer(modelDir, manifest);
  const scheduler = new Scheduler(decoder, { maxBatch: prompts.length, maxQueue: prompts.length, chunking });
  try {
    const seqs = prompts.map((promptIds, i) => new Sequence(
      { id: String(i), promptIds, maxTokens: steps, sampling: { temperature: 0, topK: 0 }, stop: [], logprobs: 0, signal: new AbortController().signal },
      tokenizer,
      new Set(),
    ));
    for (const s of seqs) scheduler.submit(s);
    return await Promise.all(seqs.map(async (s) => {
      const ids: number[] = [];
      for await (const chunk of s.output) ids.push(...chunk.tokenIds);
      return ids;
    }));
  } finally {
    await scheduler.stop();
  }
}
