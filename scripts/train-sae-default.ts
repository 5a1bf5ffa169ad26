/**
 * npm run train-sae:default
 *
 * Regenerates the shipped SAE, steering/organism260K/sae/: a TopK SAE on
 * organism260K's residual stream at the output of block 3, trained on
 * chat-formatted TRAINING-side prompts (harmful and harmless) plus plain
 * stories sampled from the model. Held-out evaluation sets are never used as
 * inputs; near-duplicates of them are dropped from the inputs (--exclude).
 * See steering/organism260K/sae/README.md. Extra arguments are appended
 * (e.g. --out DIR to write elsewhere).
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { main } from "./train-sae.ts";

const DATA = "../shared/data";

export const DEFAULT_ARGS = [
  "--model", "../shared/models/organism260K",
  "--layer", "3",
  "--chat",
  "--input", [
    `${DATA}/refusal_direction/splits/harmful_train.json`,
    `${DATA}/advbench/harmful_behaviors.csv`,
    `${DATA}/refusal_direction/splits/harmless_train.json`,
    `${DATA}/alpaca_eval/outputs.json`,
  ].join(","),
  "--max-per-file", "5000",
  "--exclude", [
    `${DATA}/refusal_direction/splits/harmful_test.json`,
    `${DATA}/refusal_direction/splits/harmful_val.json`,
    `${DATA}/harmbench/harmbench_behaviors_text_test.csv`,
    `${DATA}/jailbreakbench/behaviors.csv`,
    `${DATA}/strongreject/strongreject_dataset.csv`,
    `${DATA}/xstest/xstest_prompts.csv`,
  ].join(","),
  "--sample-stories", "600",
  "--context", "256",
  "--width", "1024",
  "--k", "16",
  "--tokens", "2000000",
  "--seed", "0",
  "--out", "steering/organism260K/sae",
];

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await main([...DEFAULT_ARGS, ...process.argv.slice(2)]);
}
