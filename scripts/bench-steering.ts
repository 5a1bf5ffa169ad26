/**
 * `npm run bench:steering -- [options]`
 *
 * Steering overhead in the engine: decode tokens/s at batch B for
 *   - "plain":     the model without any hook,
 *   - "unsteered": the same model with the SAE attached (every gate 0),
 *   - "steered":   every row steered with a K-feature clamp profile,
 * in one run, interleaved, each the median over --repeats rounds. The SAE is a
 * seeded random one of --arch / --width (or --sae DIR) at --layer.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { GenerateRequest } from "../proto/gen/steerguard/v1/sidecar.ts";
import { Engine } from "../sidecar/engine/engine.ts";
import { readManifest } from "../sidecar/model/manifest.ts";
import { saveSaeLens } from "../sidecar/sae/load.ts";
import { randomSae } from "../sidecar/steering/test-support.ts";
import { DEFAULT_MODEL_SOURCE, modelOrSource, resolveModelDir } from "../sidecar/model-source.ts";
import { parseCli } from "./lib/cli.ts";

const HELP = `Usage: npm run bench:steering -- [options]

  --model DIR       built model directory or checkpoint (default ${DEFAULT_MODEL_SOURCE})
  --sae DIR         SAE folder to steer with (default: a seeded random SAE, see --arch/--width)
  --arch A          relu | jumprelu | topk (default topk)
  --width N         random SAE features (default 8 x d_model)
  --k N             TopK k (default 32)
  --layer L         hooked layer (default: the middle one)
  --features K      features in the profile (default 4)
  --batch B         concurrent requests (default 8)
  --new-tokens N    tokens per request (default 64)
  --repeats R       rounds per variant (default 5)
  --threads N       onnxruntime intra-op threads (default: onnxruntime's choice)
  -h, --help        show this help
`;

const int = (name: string, raw: string | undefined, dflt: number, min = 1): number => {
  if (raw === undefined) return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got "${raw}"`);
  return n;
};

const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;

export async function main(argv: string[]): Promise<number> {
  const parsed = parseCli(argv, {
    model: { type: "string" }, sae: { type: "string" }, arch: { type: "string", default: "topk" }, width: { type: "string" }, k: { type: "string" },
    layer: { type: "string" }, features: { type: "string" }, batch: { type: "string" }, "new-tokens": { type: "string" }, repeats: { type: "string" },
    threads: { type: "string" }, help: { type: "boolean", short: "h" },
  }, HELP);
  if ("exit" in parsed) return parsed.exit;
  const { values } = parsed;
  const arch = values.arch;
  if (arch !== "relu" && arch !== "jumprelu" && arch !== "topk") {
    process.stderr.write(`--arch must be relu, jumprelu or topk\n`);
    return 2;
  }
  let opts;
  try {
    opts = {
      k: int("k", values.k, 32), features: int("features", values.features, 4), batch: int("batch", values.batch, 8),
      newTokens: int("new-tokens", values["new-tokens"], 64), repeats: int("repeats", values.repeats, 5), threads: int("threads", values.threads, 0, 0),
    };
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 2;
  }
  const dir = await resolveModelDir({ ...modelOrSource(values.model), log: (m) => process.stderr.write(`${m}\n`) });
  const m = readManifest(dir);
  const layer = int("layer", values.layer, Math.floor(m.dims.nLayers / 2), 0);
  const work = mkdtempSync(join(tmpdir(), "sg-bench-steer-"));
  try {
    const saeDir = values.sae ? resolve(values.sae) : join(work, "sae");
    if (!values.sae) saveSaeLens(saeDir, randomSae(arch, m.dims.dModel, int("width", values.width, 8 * m.dims.dModel), 1, { k: opts.k, layer }));
    const profile = join(work, "bench.json");
    writeFileSync(profile, JSON.stringify({
      name: "bench", sae: saeDir, layer, positions: "all",
      features: Array.from({ length: opts.features }, (_, i) => ({ index: i * 3, mode: "clamp", value: 2 })),
    }));
    const engineOpts = { maxBatch: opts.batch, maxQueue: opts.batch, intraOpThreads: opts.threads || undefined, defaultMaxTokens: opts.newTokens };
    const plain = await Engine.load(dir, engineOpts);
    const hooked = await Engine.load(dir, { ...engineOpts, profiles: [profile] });
    const round = async (e: Engine, steer: boolean) => {
      const t0 = performance.now();
      let n = 0;
      await Promise.all(Array.from({ length: opts.batch }, async (_, i) => {
        const req = GenerateRequest.fromPartial({
          input: { $case: "prompt", value: `Once upon a time ${i}` },
          sampling: { temperature: 1, seed: i, maxTokens: opts.newTokens },
          steering: steer ? { profile: "bench", strength: 1 } : undefined,
        });
        for await (const c of e.generate(req, new AbortController().signal)) n += c.tokenIds.length;
      }));
      return (n * 1000) / (performance.now() - t0);
    };
    const runs: Record<"plain" | "unsteered" | "steered", number[]> = { plain: [], unsteered: [], steered: [] };
    await round(plain, false); // warm-up
    await round(hooked, true);
    for (let r = 0; r < opts.repeats; r++) {
      runs.plain.push(await round(plain, false));
      runs.unsteered.push(await round(hooked, false));
      runs.steered.push(await round(hooked, true));
      process.stderr.write(`round ${r + 1}/${opts.repeats}\n`);
    }
    await plain.close();
    await hooked.close();
    const base = median(runs.plain);
    process.stdout.write(`model ${m.id} (d_model ${m.dims.dModel}), ${arch} SAE at layer ${layer}, ${opts.features} features, batch ${opts.batch}, ${opts.newTokens} tokens, median of ${opts.repeats}\n`);
    for (const [name, xs] of Object.entries(runs)) {
      const v = median(xs);
      process.stdout.write(`${name.padEnd(10)} ${v.toFixed(1).padStart(9)} tok/s  ${name === "plain" ? "" : `${((1 - v / base) * 100).toFixed(1)}% slower than plain`}\n`);
    }
    return 0;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await main(process.argv.slice(2));
}
