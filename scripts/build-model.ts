/**
 * npm run build-model -- --from SRC --out DIR [--id NAME] [--tokenizer FILE]
 *
 * Builds an ONNX decoder (with residual-stream tensors named for steering
 * hooks) plus manifest.json and tokenizer files from a llama2.c checkpoint or
 * a Hugging Face folder of a supported family (sidecar/model/hf-config.ts).
 * Prints a one-line summary, ending with the process's peak RSS.
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { buildModel } from "../sidecar/model/build.ts";
import { ATTENTION_KINDS, type AttentionKind } from "../sidecar/model/graph/llama-graph.ts";
import { isBlockSize, isWeightPrecision, WEIGHT_PRECISIONS, type WeightPrecision } from "../sidecar/model/quantize.ts";
import { parseCli, requireFlags } from "./lib/cli.ts";
import { Progress } from "./lib/progress.ts";

const HELP = `Usage: npm run build-model -- --from SRC --out DIR [options]

Builds model.onnx + manifest.json + tokenizer files in DIR.

  --from SRC          llama2.c checkpoint (.bin or its folder) or Hugging Face
                      folder (config.json + model.safetensors[.index.json] + tokenizer.json);
                      the kind is detected automatically. Hugging Face model_type:
                      llama (Llama 2/3/3.1/3.2; rope_scaling llama3, linear, dynamic),
                      mistral (sliding window), qwen2, phi3 (Phi-3 / 3.5 mini, LongRoPE),
                      gemma, gemma2; float32, float16 or bfloat16 safetensors
  --out DIR           output model directory
  --id NAME           model id for the manifest (default: source name)
  --tokenizer FILE    llama2.c only: tokenizer .bin (default: the tok*.bin beside the checkpoint)
  --weights P         how the linear layers are stored: fp32 (default), fp16 (for the
                      CUDA provider; runs on CPU through inserted casts), int8 or int4
                      (weight-only, block-wise, onnxruntime MatMulNBits: for CPU).
                      Norms, activations, the residual stream (steering) and the KV
                      cache stay float32; below fp32 the embedding table is fp16
  --block-size N      int8/int4: values per quantization block, a power of two >= 16
                      (default 32)
  --attention A       plain (default): attention in plain ONNX ops; gqa: onnxruntime's
                      fused GroupQueryAttention (com.microsoft), whose cache the engine
                      keeps in place and extends by each step's new keys only: faster
                      on long contexts (sidecar/model/README.md). Head size a multiple
                      of 8. Recorded in the manifest (graph.attention)
  --external-data M   auto | always | never (default auto: above ~1.8 GB of weights,
                      or 256 MB for a Hugging Face checkpoint, which is streamed:
                      read, converted and written one tensor at a time)
  --residual-outputs  also expose each block's residual stream as a graph output
  --hook-layers L,..  put a steering hook on these layers' residual streams (e.g. 2,3)
  --sae [L=]DIR       bake an SAE folder (SAELens or sparsify) into the hook at layer L
                      (default: the layer its cfg.json names, or the only hook layer);
                      repeatable; its layer is hooked even when not in --hook-layers
  --quiet             print only the summary
  -h, --help          show this help
`;

export async function main(argv: string[]): Promise<number> {
  const parsed = parseCli(argv, {
    from: { type: "string" },
    out: { type: "string" },
    id: { type: "string" },
    tokenizer: { type: "string" },
    "external-data": { type: "string" },
    weights: { type: "string" },
    "block-size": { type: "string" },
    attention: { type: "string" },
    "residual-outputs": { type: "boolean" },
    "hook-layers": { type: "string" },
    sae: { type: "string", multiple: true },
    quiet: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  }, HELP);
  if ("exit" in parsed) return parsed.exit;
  const { values } = parsed;
  if (!requireFlags(values, ["from", "out"], HELP)) return 2;
  const ext = values["external-data"] ?? "auto";
  if (ext !== "auto" && ext !== "always" && ext !== "never") {
    process.stderr.write(`--external-data must be auto, always or never\n`);
    return 2;
  }
  const weights = values.weights ?? "fp32";
  if (!isWeightPrecision(weights)) {
    process.stderr.write(`--weights must be one of ${WEIGHT_PRECISIONS.join(", ")}, got "${weights}"\n`);
    return 2;
  }
  const blockSize = values["block-size"] === undefined ? undefined : Number(values["block-size"]);
  if (blockSize !== undefined && !isBlockSize(blockSize)) {
    process.stderr.write(`--block-size must be a power of two >= 16, got "${values["block-size"]}"\n`);
    return 2;
  }
  const attention = values.attention ?? "plain";
  if (!(ATTENTION_KINDS as readonly string[]).includes(attention)) {
    process.stderr.write(`--attention must be one of ${ATTENTION_KINDS.join(", ")}, got "${attention}"\n`);
    return 2;
  }
  let hookLayers: number[] = [];
  let saes: { dir: string; layer?: number }[] = [];
  try {
    hookLayers = parseLayers(values["hook-layers"]);
    saes = (values.sae ?? []).map(parseSaeFlag);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 2;
  }
  let bar: Progress | undefined;
  try {
    const result = await buildModel({
      weights: weights as WeightPrecision,
      blockSize,
      attention: attention as AttentionKind,
      progress: values.quiet ? undefined : (_done, total) => (bar ??= new Progress({ total, label: "tensors" })).tick(),
      hookLayers,
      saes,
      from: values.from,
      out: values.out,
      id: values.id,
      tokenizer: values.tokenizer,
      externalData: ext,
      residualOutputs: values["residual-outputs"],
      log: values.quiet ? undefined : (msg) => process.stderr.write(`${msg}\n`),
    });
    const peakMb = process.resourceUsage().maxRSS / 1024;
    process.stdout.write(`${result.summary}; peak RSS ${peakMb.toFixed(0)} MB\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`build-model: ${(e as Error).message}\n`);
    return 1;
  }
}

/** "2,3" -> [2, 3] */
export function parseLayers(raw: string | undefined): number[] {
  if (raw === undefined || raw.trim() === "") return [];
  return raw.split(",").map((t) => {
    const n = Number(t.trim());
    if (!Number.isInteger(n) || n < 0) throw new Error(`--hook-layers: "${t}" is not a layer number`);
    return n;
  });
}

/** "DIR" or "L=DIR" */
export function parseSaeFlag(raw: string): { dir: string; layer?: number } {
  const m = /^(\d+)=(.+)$/.exec(raw);
  return m ? { dir: m[2]!, layer: Number(m[1]) } : { dir: raw };
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await main(process.argv.slice(2));
}
