/**
 * npm run bench:load — the memory and time of loading a model in the engine,
 * per graph layout (--segments: one graph, or block segments and the head).
 * Each load runs in a process of its own, with the sidecar's malloc settings
 * (sidecar/engine/malloc-env.ts), so its resident memory is the engine's:
 *
 *   load ms       Engine.load
 *   loaded MB     resident memory right after the load
 *   settled MB    two seconds after a garbage collection
 *   serving MB    after a short request (greedy, 8 tokens)
 *   peak MB       the process's highest resident memory
 *
 * Medians of --rounds processes per layout, layouts interleaved.
 */
import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { withMallocTunables } from "../sidecar/engine/malloc-env.ts";
import { ATTENTION_KINDS } from "../sidecar/model/graph/llama-graph.ts";
import { DEFAULT_BLOCK_SIZE } from "../sidecar/model/quantize.ts";
import { median, MODELS, prepareModel, table } from "./bench-engine.ts";
import { MODEL_FLAGS, MODEL_FLAGS_HELP, modelFlags, type ModelFlagValues, segmentsFlag } from "./lib/bench-flags.ts";
import type { LoadFigures } from "./bench-load/measure.ts";
import { intFlag, parseCli, reportMain } from "./lib/cli.ts";

const HELP = `Usage: npm run bench:load -- [options]

Memory and time of loading one model in the engine, per graph layout, each
load in a process of its own: load time, resident memory after the load,
after it settles (2 s after a garbage collection), after a short request, and
the process's peak; medians of the rounds.

  --model NAME          ${MODELS.join(", ")} (default random-100m)
  --attention KIND      ${ATTENTION_KINDS.join(", ")} (default gqa, the CPU default)
  --segments LIST       comma-separated --segment-layers values: 0 (one graph), N, auto
                        (default 0,auto)
  --rounds N            processes per layout (default 3)
${MODEL_FLAGS_HELP}`;

interface Options extends ModelFlagValues {
  segments: (number | "auto")[];
  rounds: number;
}

function parse(argv: string[]): Options | { exit: number } {
  const parsed = parseCli(argv, { ...MODEL_FLAGS, segments: { type: "string", default: "0,auto" }, rounds: { type: "string" } }, HELP, { prefix: "bench-load: " });
  if ("exit" in parsed) return parsed;
  const v = parsed.values;
  return { ...modelFlags(v), segments: segmentsFlag(v.segments), rounds: intFlag("rounds", v.rounds, { min: 1, default: 3 }) };
}

/** Runs bench-load/measure.ts in a new process with the sidecar's malloc settings. */
function inChild(dir: string, segmentLayers: number | "auto"): Promise<LoadFigures> {
  const args = ["--expose-gc", "--import", "tsx", fileURLToPath(new URL("./bench-load/measure.ts", import.meta.url)), dir, String(segmentLayers)];
  const child = spawn(process.execPath, args, { env: withMallocTunables(process.env), stdio: ["ignore", "pipe", "inherit"] });
  let stdout = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  return new Promise((done, fail) => {
    child.on("error", fail);
    child.on("exit", (code, signal) => {
      const line = stdout.trim().split("\n").at(-1) ?? "";
      if (code !== 0 || !line.startsWith("{")) return fail(new Error(`the load of ${dir} (segments ${segmentLayers}) exited ${code ?? signal}: ${stdout.trim()}`));
      done(JSON.parse(line) as LoadFigures);
    });
  });
}

const log = (msg: string) => process.stderr.write(`bench-load: ${msg}\n`);

async function bench(o: Options): Promise<string> {
  const built = await prepareModel(o.model, "fp32", { stories: o.stories, cacheDir: o.cacheDir, blockSize: DEFAULT_BLOCK_SIZE, accuracyLevel: undefined, seed: 1, attention: o.attention });
  const runs: LoadFigures[][] = o.segments.map(() => []);
  for (let r = 0; r < o.rounds; r++) {
    for (const [i, s] of o.segments.entries()) {
      log(`round ${r + 1}/${o.rounds}: --segment-layers ${s}`);
      runs[i]!.push(await inChild(built.dir, s));
    }
  }
  const mb = (pick: (f: LoadFigures) => number) => (fs: LoadFigures[]) => Math.round(median(fs.map(pick))).toLocaleString("en-US");
  const rows: [string, (fs: LoadFigures[]) => string][] = [
    ["layout", (fs) => fs[0]!.layout],
    ["load ms", mb((f) => f.loadMs)],
    ["loaded MB", mb((f) => f.loadedMb)],
    ["settled MB (GC, 2 s)", mb((f) => f.settledMb)],
    ["serving MB", mb((f) => f.servingMb)],
    ["peak MB", mb((f) => f.peakMb)],
  ];
  return `bench:load: ${o.model} (${built.key}), medians of ${o.rounds} process${o.rounds > 1 ? "es" : ""} per layout, with the sidecar's malloc settings\n\n` +
    table(["figure", ...o.segments.map((s) => `--segment-layers ${s}`)], rows.map(([label, cell]) => [label, ...runs.map(cell)]), 1);
}

export function main(argv: string[]): Promise<number> {
  return reportMain("bench-load", HELP, () => parse(argv), bench);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await main(process.argv.slice(2));
}
