/**
 * Flags the benchmarks that run one of bench-engine.ts's models share: the
 * model, its attention build, where bench models are kept, the stories260K
 * folder, and --segments (the sidecar's --segment-layers values).
 */
import { resolve } from "node:path";
import { ATTENTION_KINDS, type AttentionKind } from "../../sidecar/model/graph/llama-graph.ts";
import { DEFAULT_STORIES, MODELS, type ModelName } from "../bench-engine.ts";
import { intFlag, UsageError } from "./cli.ts";

/** parseCli options: --model, --attention, --cache-dir, --stories, --help. */
export const MODEL_FLAGS = {
  model: { type: "string", default: "random-100m" },
  attention: { type: "string", default: "gqa" },
  "cache-dir": { type: "string", default: ".cache/bench" },
  stories: { type: "string", default: DEFAULT_STORIES },
  help: { type: "boolean", short: "h" },
} as const;

/** The help's lines for --cache-dir, --stories and --help (each script words --model and --attention itself). */
export const MODEL_FLAGS_HELP = `  --cache-dir DIR       where bench models are kept (default .cache/bench)
  --stories DIR         the stories260K folder (its tokenizer pads random models')
  -h, --help            show this help
`;

export interface ModelFlagValues {
  model: ModelName;
  attention: AttentionKind;
  cacheDir: string;
  stories: string;
}

/** MODEL_FLAGS' values checked (UsageError) and resolved. */
export function modelFlags(v: { model: string; attention: string; "cache-dir": string; stories: string }): ModelFlagValues {
  if (!(MODELS as readonly string[]).includes(v.model)) throw new UsageError(`unknown model "${v.model}" (known: ${MODELS.join(", ")})`);
  if (!(ATTENTION_KINDS as readonly string[]).includes(v.attention)) throw new UsageError(`--attention: one of ${ATTENTION_KINDS.join(", ")}, got "${v.attention}"`);
  return { model: v.model as ModelName, attention: v.attention as AttentionKind, cacheDir: resolve(v["cache-dir"]), stories: resolve(v.stories) };
}

/** --segments LIST: comma-separated --segment-layers values (0: one graph, N blocks, auto), each once. */
export function segmentsFlag(raw: string): (number | "auto")[] {
  const values = [...new Set(raw.split(",").map((s) => s.trim()).filter(Boolean).map((s): number | "auto" => (s === "auto" ? "auto" : (intFlag("segments", s, { min: 0 }) as number))))];
  if (values.length === 0) throw new UsageError("--segments is empty");
  return values;
}
