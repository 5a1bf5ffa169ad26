/**
 * npm run build-model -- --from SRC --out DIR [--id NAME] [--tokenizer FILE]
 *
 * Builds an ONNX decoder (with residual-stream tensors named for steering
 * hooks) plus manifest.json and tokenizer files from a llama2.c checkpoint or
 * a Hugging Face Llama-family folder. Prints a one-line summary.
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { buildModel } from "../sidecar/model/build.ts";

const HELP = `Usage: npm run build-model -- --from SRC --out DIR [options]

Builds model.onnx + manifest.json + tokenizer files in DIR.

  --from SRC          llama2.c checkpoint (.bin or its folder) or Hugging Face
                      folder (config.json + model.safetensors[.index.json] + tokenizer.json);
                      the kind is detected automatically
  --out DIR           output model directory
  --id NAME           model id for the manifest (default: source name)
  --tokenizer FILE    llama2.c only: tokenizer .bin (default: the tok*.bin beside the checkpoint)
  --external-data M   auto | always | never (default auto: only above ~1.8 GB of weights)
  --residual-outputs  also expose each block's residual stream as a graph output
  --quiet             print only the summary
  -h, --help          show this help
`;

export async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        from: { type: "string" },
        out: { type: "string" },
        id: { type: "string" },
        tokenizer: { type: "string" },
        "external-data": { type: "string" },
        "residual-outputs": { type: "boolean" },
        quiet: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (!values.from || !values.out) {
    process.stderr.write(`--from and --out are required\n\n${HELP}`);
    return 2;
  }
  const ext = values["external-data"] ?? "auto";
  if (ext !== "auto" && ext !== "always" && ext !== "never") {
    process.stderr.write(`--external-data must be auto, always or never\n`);
    return 2;
  }
  try {
    const result = await buildModel({
      from: values.from,
      out: values.out,
      id: values.id,
      tokenizer: values.tokenizer,
      externalData: ext,
      residualOutputs: values["residual-outputs"],
      log: values.quiet ? undefined : (msg) => process.stderr.write(`${msg}\n`),
    });
    process.stdout.write(`${result.summary}\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`build-model: ${(e as Error).message}\n`);
    return 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await main(process.argv.slice(2));
}
