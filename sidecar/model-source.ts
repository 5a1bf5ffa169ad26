/**
 * Which model the sidecar serves: a built model directory (--model), or a
 * checkpoint (--from) that is built on first start into a cache folder and
 * rebuilt when the source files change.
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { buildModel, isBuildCurrent, sourceHeads } from "./model/build.ts";
import { MANIFEST_FILE } from "./model/manifest.ts";
import { gqaUnsupported, type AttentionKind } from "./model/graph/llama-graph.ts";
import type { LlamaConfig } from "./model/weights.ts";
import type { WeightPrecision } from "./model/quantize.ts";

/** The default checkpoint: the refusal model organism beside the repo. */
export const DEFAULT_MODEL_SOURCE = fileURLToPathSafe("../../shared/models/organism260K");
/** Where built models are cached. */
export const DEFAULT_CACHE_DIR = fileURLToPathSafe("../.cache/models");

function fileURLToPathSafe(rel: string): string {
  return resolve(new URL(rel, import.meta.url).pathname);
}

export interface ModelSource {
  /** A built model directory (manifest.json + model.onnx). */
  model?: string;
  /** A checkpoint to build (llama2.c .bin or folder, or a Hugging Face folder). */
  from?: string;
  cacheDir?: string;
  /** Weight precision of a --from build (default fp32); non-fp32 builds are cached as NAME-PRECISION. */
  weights?: WeightPrecision;
  /** Attention of a --from build (default plain; auto: chooseAttention); gqa builds are cached as NAME[-PRECISION]-gqa. */
  attention?: AttentionChoice;
  /** Where the model will run (for attention auto; default cpu). */
  device?: "cpu" | "cuda";
  log?: (message: string) => void;
}

/** A --from build's attention: plain, gqa, or auto (chooseAttention). */
export type AttentionChoice = AttentionKind | "auto";
export const ATTENTION_CHOICES: readonly AttentionChoice[] = ["auto", "plain", "gqa"];

/**
 * Resolves "auto": fused attention (gqa) on CPU, where it is faster on every
 * figure of bench:latency (README, Latency), when the model's heads allow
 * it; plain otherwise, and on CUDA, where the fused build (float32, the
 * engine's in-place cache) has not been run or checked.
 */
export function chooseAttention(choice: AttentionChoice, device: "cpu" | "cuda", heads: () => Pick<LlamaConfig, "headDim" | "nHeads" | "nKvHeads">): AttentionKind {
  if (choice !== "auto") return choice;
  if (device !== "cpu") return "plain";
  return gqaUnsupported(heads()) === null ? "gqa" : "plain";
}

/**
 * A path that is either a built model directory (has manifest.json) or a
 * checkpoint to build: for CLIs whose one --model flag takes both.
 */
export function modelOrSource(path: string | undefined): ModelSource {
  if (path === undefined) return {};
  return existsSync(join(path, MANIFEST_FILE)) ? { model: path } : { from: path };
}

/** Returns a built model directory, building `from` first when needed. */
export async function resolveModelDir(src: ModelSource): Promise<string> {
  if (src.model) return resolve(src.model);
  const from = resolve(src.from ?? DEFAULT_MODEL_SOURCE);
  const name = from.split("/").filter(Boolean).pop()!.replace(/\.bin$/, "");
  const weights = src.weights ?? "fp32";
  const attention = chooseAttention(src.attention ?? "plain", src.device ?? "cpu", () => sourceHeads(from));
  const folder = [name, ...(weights === "fp32" ? [] : [weights]), ...(attention === "plain" ? [] : [attention])].join("-");
  const out = join(src.cacheDir ?? DEFAULT_CACHE_DIR, folder);
  if (await isBuildCurrent(from, out, { weights, attention })) return out;
  src.log?.(`building ${from} into ${out} (first start, or the source changed)`);
  const built = await buildModel({ from, out, id: name, weights, attention });
  src.log?.(built.summary);
  return out;
}
