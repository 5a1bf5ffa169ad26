/**
 * Which model the sidecar serves: a built model directory (--model), or a
 * checkpoint (--from) that is built on first start into a cache folder and
 * rebuilt when the source files change.
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { buildModel, isBuildCurrent } from "./model/build.ts";
import { MANIFEST_FILE } from "./model/manifest.ts";
import type { AttentionKind } from "./model/graph/llama-graph.ts";
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
  /** Attention of a --from build (default plain); gqa builds are cached as NAME[-PRECISION]-gqa. */
  attention?: AttentionKind;
  log?: (message: string) => void;
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
  const attention = src.attention ?? "plain";
  const folder = [name, ...(weights === "fp32" ? [] : [weights]), ...(attention === "plain" ? [] : [attention])].join("-");
  const out = join(src.cacheDir ?? DEFAULT_CACHE_DIR, folder);
  if (await isBuildCurrent(from, out, { weights, attention })) return out;
  src.log?.(`building ${from} into ${out} (first start, or the source changed)`);
  const built = await buildModel({ from, out, id: name, weights, attention });
  src.log?.(built.summary);
  return out;
}
