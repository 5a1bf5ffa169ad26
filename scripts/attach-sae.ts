/**
 * npm run attach-sae -- --model DIR --sae DIR [--layer L] [--out DIR]
 *
 * Bakes an SAE into the steering hook of a built model (manifest.json +
 * model.onnx): the layer's hook is inserted or replaced, and the manifest
 * records the hooked layer and the SAE (folder + hash).
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { attachSae } from "../sidecar/steering/attach.ts";
import { parseCli, requireFlags } from "./lib/cli.ts";

const HELP = `Usage: npm run attach-sae -- --model DIR --sae DIR [--layer L] [--out DIR]

  --model DIR   a built model directory (npm run build-model)
  --sae DIR     SAE folder (SAELens cfg.json + sae_weights.safetensors, or sparsify)
  --layer L     layer to hook (output of block L); default: the layer the SAE's cfg names
  --out DIR     write the hooked model here (default: rewrite --model in place)
  -h, --help    show this help
`;

export async function main(argv: string[]): Promise<number> {
  const parsed = parseCli(argv, { model: { type: "string" }, sae: { type: "string" }, layer: { type: "string" }, out: { type: "string" }, help: { type: "boolean", short: "h" } }, HELP);
  if ("exit" in parsed) return parsed.exit;
  const { values } = parsed;
  if (!requireFlags(values, ["model", "sae"], HELP)) return 2;
  const layer = values.layer === undefined ? undefined : Number(values.layer);
  if (layer !== undefined && !(Number.isInteger(layer) && layer >= 0)) {
    process.stderr.write(`--layer must be a non-negative integer, got "${values.layer}"\n`);
    return 2;
  }
  try {
    const { outDir, record } = attachSae({ model: values.model, sae: values.sae, layer, out: values.out });
    process.stdout.write(`attached ${record.sae!.architecture} SAE (${record.sae!.dSae} features) at layer ${record.layer} (${record.tensor}) -> ${outDir}\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`attach-sae: ${(e as Error).message}\n`);
    return 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await main(process.argv.slice(2));
}
