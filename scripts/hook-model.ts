/**
 * npm run hook-model -- --in model.onnx [--tensor NAME] [--layer L] [--sae DIR] --out DIR
 *
 * Graph surgery: inserts the steering hook (sidecar/steering/hook.ts) into an
 * existing ONNX decoder export at a residual-stream tensor, detected from the
 * usual names when --tensor is not given (ours, Optimum / transformers.js,
 * onnxruntime-genai; a residual add fused into the next norm is unfused
 * first). With --sae the SAE is baked in; without, the hook is an empty place
 * to attach one (npm run attach-sae).
 */
import { copyFileSync, existsSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { MANIFEST_FILE, readManifest, writeManifest } from "../sidecar/model/manifest.ts";
import { loadSaeForModel, manifestHooks } from "../sidecar/steering/attach.ts";
import { parseCli, requireFlags } from "./lib/cli.ts";
import { hookModel, layerOfTensor, modelDModel, readHookRecords, readModelProto, writeModelProto } from "../sidecar/steering/surgery.ts";

const HELP = `Usage: npm run hook-model -- --in model.onnx [--tensor NAME] [--layer L] [--sae DIR] --out DIR

Inserts the steering hook into an ONNX decoder at a residual-stream tensor and
writes DIR/<model file name> (external data files are copied along; a
manifest.json and tokenizer files beside the input are carried over, updated).

  --in FILE       the ONNX decoder (e.g. an Optimum, transformers.js or
                  onnxruntime-genai export; fp32)
  --tensor NAME   residual-stream tensor to hook, e.g. /model/layers.2/Add_1_output_0;
                  default: detected for --layer from the usual names
                  (/model/layers.L/resid_post, /model/layers.L/Add_1_output_0,
                  /model/layers.{L+1}/input_layernorm/output_3, or the sum inside
                  the fused SkipLayerNorm after block L). A residual computed by a
                  fused Skip(Simplified)LayerNormalization is split into Add + norm
                  so the norm reads the steered residual
  --layer L       the layer (output of block L); default: read from --tensor's name
                  or from the SAE's cfg.json
  --sae DIR       SAE folder (SAELens or sparsify) to bake in; default: an empty hook
  --out DIR       output folder
  -h, --help      show this help
`;

export async function main(argv: string[]): Promise<number> {
  const parsed = parseCli(argv, {
    in: { type: "string" },
    tensor: { type: "string" },
    layer: { type: "string" },
    sae: { type: "string" },
    out: { type: "string" },
    help: { type: "boolean", short: "h" },
  }, HELP);
  if ("exit" in parsed) return parsed.exit;
  const { values } = parsed;
  if (!requireFlags(values, ["in", "out"], HELP)) return 2;
  let layer: number | undefined;
  if (values.layer !== undefined) {
    layer = Number(values.layer);
    if (!Number.isInteger(layer) || layer < 0) {
      process.stderr.write(`--layer must be a non-negative integer, got "${values.layer}"\n`);
      return 2;
    }
  }
  try {
    const inFile = resolve(values.in);
    const inDir = dirname(inFile);
    const model = readModelProto(inFile);
    const manifest = existsSync(join(inDir, MANIFEST_FILE)) ? readManifest(inDir) : null;
    const dModel = manifest?.dims.dModel ?? modelDModel(model);
    const loaded = values.sae ? loadSaeForModel(values.sae, dModel) : null;
    layer ??= values.tensor ? layerOfTensor(values.tensor) : undefined;
    layer ??= loaded?.sae.layer;
    if (layer === undefined) throw new Error("cannot tell the layer: pass --layer");
    const record = hookModel(model, { layer, tensor: values.tensor, sae: loaded?.sae ?? null, saeDir: loaded?.dir, saeSha256: loaded?.sha256, dModel });
    const outDir = resolve(values.out);
    writeModelProto(model, join(outDir, basename(inFile)), inDir);
    if (manifest) {
      for (const f of manifest.tokenizer.files) if (resolve(inDir, f) !== resolve(outDir, f)) copyFileSync(join(inDir, f), join(outDir, f));
      writeManifest(outDir, { ...manifest, graph: { ...manifest.graph, file: basename(inFile) }, ...manifestHooks(readHookRecords(model)) });
    }
    const what = record.sae ? `${record.sae.architecture} SAE (${record.sae.dSae} features) from ${record.sae.dir}` : "an empty hook";
    process.stdout.write(`hooked layer ${layer} at ${record.tensor} with ${what} -> ${join(outDir, basename(inFile))}\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`hook-model: ${(e as Error).message}\n`);
    return 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await main(process.argv.slice(2));
}
