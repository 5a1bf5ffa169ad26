/**
 * `manifest.json`, written beside `model.onnx` by the model builder and read
 * by the sidecar: what the model is, where it came from, how to tokenize for
 * it, and the names of the residual-stream tensors (where steering hooks go).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as v from "valibot";
import { ATTENTION_KINDS } from "./graph/llama-graph.ts";
import { WEIGHT_PRECISIONS } from "./quantize.ts";

export const MANIFEST_FILE = "manifest.json";
export const MANIFEST_FORMAT = "steerguard-model/1";
/** Bumped whenever the builder's output changes, so older builds are rebuilt. */
export const BUILDER_VERSION = 4;

const PositiveInt = v.pipe(v.number(), v.integer(), v.minValue(1));
const TokenId = v.pipe(v.number(), v.integer(), v.minValue(0));

export const ManifestSchema = v.object({
  format: v.literal(MANIFEST_FORMAT),
  /** A name for the model (the --id flag, default: the source folder name). */
  id: v.string(),
  /** BUILDER_VERSION of the build that wrote this directory. */
  builderVersion: v.pipe(v.number(), v.integer()),
  /** The family: the HF model_type (llama, mistral, qwen2, phi3, gemma, gemma2), "llama" for llama2.c. */
  architecture: v.string(),
  source: v.object({
    kind: v.picklist(["llama2c", "hf"]),
    /** Absolute path of the source (file or directory) at build time. */
    path: v.string(),
    /** sha256 (hex) of each source file read, keyed by file name relative to the source folder. */
    sha256: v.record(v.string(), v.string()),
    /** Original model_type for HF sources (llama, mistral, qwen2, phi3, gemma, gemma2), null for llama2.c. */
    modelType: v.nullable(v.string()),
  }),
  dims: v.object({
    vocabSize: PositiveInt,
    dModel: PositiveInt,
    nLayers: PositiveInt,
    nHeads: PositiveInt,
    nKvHeads: PositiveInt,
    headDim: PositiveInt,
    hiddenDim: PositiveInt,
    contextLength: PositiveInt,
    ropeTheta: v.number(),
    rmsNormEps: v.number(),
  }),
  /** The ONNX files, relative to the model directory. */
  graph: v.object({
    file: v.string(),
    /** External data file name, or null when the weights are inside model.onnx. */
    externalData: v.nullable(v.string()),
    opset: PositiveInt,
    /** The rotary convention of the source weights (the graph itself always rotates halves). */
    sourceRotary: v.picklist(["interleaved", "half"]),
    tiedEmbeddings: v.boolean(),
    qkvBias: v.boolean(),
    /** Whether residualTensors are also graph outputs (built with --residual-outputs). */
    residualOutputs: v.boolean(),
    /**
     * The family options the graph bakes in (LlamaConfig: rope, activation,
     * embedScale, sandwichNorms, attnScale, attnSoftcap, finalSoftcap,
     * slidingWindows); absent or empty for plain Llama. For reading only.
     */
    family: v.optional(v.record(v.string(), v.unknown())),
    /**
     * How the linear layers' weights are stored (sidecar/model/graph/linear.ts):
     * fp32, fp16, or int8/int4 quantized in blocks of blockSize (null otherwise).
     * Activations, the residual stream and the KV cache are float32 at every precision.
     */
    precision: v.optional(
      v.object({ weights: v.picklist(WEIGHT_PRECISIONS), blockSize: v.nullable(PositiveInt) }),
      { weights: "fp32", blockSize: null },
    ),
    /**
     * How attention is built (graph/llama-graph.ts, build-model --attention):
     * "plain" ONNX ops with attention_mask and present.N.* (right-aligned cache),
     * or "gqa", onnxruntime's GroupQueryAttention with seqlens_k and
     * new_key_values.N.* (left-aligned cache, sidecar/engine/gqa-kv-cache.ts).
     * Absent: plain (builds from before the option).
     */
    attention: v.optional(v.picklist(ATTENTION_KINDS)),
  }),
  tokenizer: v.object({
    /** "llama2c": a tok*.bin vocabulary; "hf": tokenizer.json (+ tokenizer_config.json). */
    kind: v.picklist(["llama2c", "hf"]),
    /** Tokenizer files copied into the model directory (names relative to it); the first is the main one. */
    files: v.array(v.string()),
    bosId: v.nullable(TokenId),
    /** The first end-of-sequence id (eosIds lists all of them). */
    eosId: v.nullable(TokenId),
    eosIds: v.array(TokenId),
    /** Whether plain-text prompts get BOS prepended. */
    addBos: v.boolean(),
  }),
  /** Jinja chat template, or null when the model has none. */
  chatTemplate: v.nullable(v.string()),
  /** Special tokens (HF added tokens marked special; llama2.c: <unk>, <s>, </s>). */
  specialTokens: v.array(v.object({ id: TokenId, text: v.string() })),
  /** Residual stream after block L (`/model/layers.L/resid_post`), one name per layer. */
  residualTensors: v.array(v.string()),
  /** Layers where a steering hook has been inserted into the graph (build-model --hook-layers, attach-sae). */
  hookedLayers: v.array(v.pipe(v.number(), v.integer(), v.minValue(0))),
  /** The SAEs baked into hooks (sidecar/steering/hook.ts), one per hooked layer that has one. */
  saes: v.optional(
    v.array(
      v.object({
        layer: v.pipe(v.number(), v.integer(), v.minValue(0)),
        /** The residual tensor the hook reads. */
        tensor: v.string(),
        architecture: v.picklist(["relu", "jumprelu", "topk"]),
        dSae: PositiveInt,
        k: v.nullable(PositiveInt),
        /** The SAE folder it was loaded from (absolute), when known. */
        dir: v.nullable(v.string()),
        /** saeDirHash of that folder (sidecar/steering/surgery.ts), when known. */
        sha256: v.nullable(v.string()),
        /** The hook's interface version (sidecar/steering/names.ts HOOK_FORMAT); absent before conditional steering. */
        hookFormat: v.optional(PositiveInt),
      }),
    ),
  ),
});

export type Manifest = v.InferOutput<typeof ManifestSchema>;

/** Reads and validates `manifest.json` of a model directory. */
export function readManifest(modelDir: string): Manifest {
  const file = join(modelDir, MANIFEST_FILE);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new Error(`${file}: cannot read manifest (${(e as Error).message})`);
  }
  const result = v.safeParse(ManifestSchema, json);
  if (!result.success) {
    const issues = result.issues.map((i) => `${v.getDotPath(i) ?? "(root)"}: ${i.message}`).join("; ");
    throw new Error(`${file}: invalid manifest: ${issues}`);
  }
  return result.output;
}

/** Validates and writes `manifest.json` into a model directory. */
export function writeManifest(modelDir: string, manifest: Manifest): void {
  const checked = v.parse(ManifestSchema, manifest);
  writeFileSync(join(modelDir, MANIFEST_FILE), JSON.stringify(checked, null, 2) + "\n");
}
