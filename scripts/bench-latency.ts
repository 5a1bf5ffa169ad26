/**
 * `npm run bench:latency -- [options]`
 *
 * Latency under mixed load (issue 18), each scheduler setting side by side in
 * one run: running streams' inter-chunk gaps while a long prompt is admitted,
 * the long prompt's and a short prompt's time to first token (the short one
 * sent 1 ms after the long one, during its prefill, with the streams alone,
 * and on an idle engine), prefill tokens/s by prompt
 * length (and the operations/s they make, sidecar/model/flops.ts, with the
 * ratio of rates the arithmetic allows), and decode tokens/s at batch 1 and B. Settings: "off" (whole
 * prompts, as before chunked prefill) and CHUNK/STEP (the sidecar's
 * --prefill-chunk / --step-tokens), each with every attention build asked for
 * (--attention: plain, and gqa, onnxruntime's fused GroupQueryAttention with
 * the engine's in-place cache). Each column has its own engine; in every
 * round each measurement runs on every column in turn.
 * Models are bench:engine's (random-100m: seeded random Llama weights, ~100M
 * parameters, context 2048). Progress to stderr, the table to stdout.
 */
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { Engine } from "../sidecar/engine/engine.ts";
import { ReplicaSet } from "../sidecar/replicas/index.ts";
import { loadModelTokenizer } from "../sidecar/tokenizer/load.ts";
import { DEFAULT_PREFILL_CHUNK, DEFAULT_STEP_TOKENS } from "../sidecar/engine/prefill.ts";
import type { WeightPrecision } from "../sidecar/model/quantize.ts";
import { ATTENTION_KINDS, type AttentionKind } from "../sidecar/model/graph/llama-graph.ts";
import { DEFAULT_BLOCK_SIZE } from "../sidecar/model/quantize.ts";
import { DEFAULT_STORIES, MODELS, prepareModel, promptOf, type ModelName } from "./bench-engine.ts";
import { decodeRate, DEFAULT_PREFILL_PASSES, firstTokenMs, gaps, mixedLoad, prefillRates, StepLog, timed, type Backend } from "./bench-latency/measure.ts";
import { gapStats, parseSetting, report, type Figures, type ReportContext, type Setting } from "./bench-latency/report.ts";

/** A column of the table: a scheduler setting on one attention build, in one engine or several (--replicas). */
type Column = Setting & { attention: AttentionKind; replicas: number; segmentLayers: number | "auto" };
import { segmentsFlag } from "./lib/bench-flags.ts";
import { intFlag, parseCli, reportMain, UsageError } from "./lib/cli.ts";
import { weightsList } from "./lib/weights-flag.ts";

const ROOT = resolve(import.meta.dirname, "..");

export const HELP = `Usage: npm run bench:latency -- [options]

Latency under mixed load, each scheduler setting side by side in one run:
running streams' median / p99 / max inter-chunk gap while a long prompt is
admitted, the long prompt's time to first token, a short prompt's time to
first token sent 1 ms after it, during its prefill (at 25/50/75% of it), with
the streams only, and alone, prefill tokens/s by prompt length, and decode
tokens/s at batch 1 and B; then the issue's goals for each chunked setting.

  --model NAME          bench:engine's models: ${MODELS.join(", ")} (default random-100m)
  --weights P           weight precision: fp32, fp16, int8, int4 (default fp32)
  --settings LIST       comma-separated: off, or CHUNK/STEP (--prefill-chunk /
                        --step-tokens), e.g. off,32/64,64/128,128/256, or
                        CHUNK/STEP/YIELD (and --prefill-yield), e.g. 64/128/0,64/128/3,
                        or CHUNK/STEP/YIELD/IDLE (and --idle-chunk), e.g. 64/128/4/64
                        (prefill rates are timed alone, so in chunks of IDLE)
                        (default off,${DEFAULT_PREFILL_CHUNK}/${DEFAULT_STEP_TOKENS}: whole prompts, and the sidecar's default)
  --attention LIST      comma-separated builds of the model: plain (attention in plain
                        ONNX ops), gqa (build-model --attention gqa: fused
                        GroupQueryAttention, what the sidecar builds on CPU by default);
                        every setting runs on each, gqa columns labelled "... gqa"
                        (default plain,gqa)
  --replicas LIST       comma-separated engine counts: 1 (one engine in this thread, as
                        the sidecar runs by default) or N (the sidecar's --replicas N: N
                        engines in worker threads, the cores shared out); every setting runs
                        on each, columns labelled "... xN" (default 1)
  --segments LIST       comma-separated: auto (the sidecar's default --segment-layers: on CPU,
                        random-100m's gqa build runs as 6 graphs of 2 blocks and the head, the
                        plain build as one graph), 0 (one graph)
                        or N blocks per graph; every setting runs on each, columns labelled
                        "... whole" (0) or "... segN" (default auto)
  --streams N           streams decoding while the long prompt arrives (default 2; 0: the
                        long prompt arrives at an idle engine, so --idle-chunk applies)
  --long-tokens N       the long prompt's length in tokens (default 2000)
  --short-tokens N      the short prompts' length in tokens (default 4; a chat
                        prompt with its template is more like 100-300)
  --prefill-lengths L   comma-separated prompt lengths for prefill tokens/s, each timed
                        alone in passes over all of them (default 128,512,2000)
  --prefill-passes N    passes a round over the prefill lengths, each length's rate the
                        median of all its runs (default ${DEFAULT_PREFILL_PASSES})
  --batch B             concurrent requests of the batched decode run (default 8)
  --new-tokens N        tokens per decode-rate request (default 32)
  --rounds N            rounds; medians are shown (default 1)
  --threads N           onnxruntime intra-op threads (default 0 = onnxruntime's)
  --cache-dir DIR       where bench models are kept (default .cache/bench)
  --stories DIR         the stories260K folder (its tokenizer pads random models')
  -h, --help            show this help
`;

/** The command line; the fields the report prints come under their names there. */
interface Options extends Pick<ReportContext, "streams" | "longTokens" | "shortTokens" | "prefillLengths" | "prefillPasses" | "batch" | "rounds"> {
  model: ModelName;
  weights: WeightPrecision;
  /** One column per setting and attention build. */
  settings: Column[];
  newTokens: number;
  threads: number;
  cacheDir: string;
  stories: string;
}

function parse(argv: string[]): Options | { exit: number } {
  const parsed = parseCli(argv, {
    model: { type: "string", default: "random-100m" },
    weights: { type: "string", default: "fp32" },
    settings: { type: "string", default: `off,${DEFAULT_PREFILL_CHUNK}/${DEFAULT_STEP_TOKENS}` },
    attention: { type: "string", default: "plain,gqa" },
    replicas: { type: "string", default: "1" },
    segments: { type: "string", default: "auto" },
    streams: { type: "string" },
    "long-tokens": { type: "string" },
    "short-tokens": { type: "string" },
    "prefill-lengths": { type: "string", default: "128,512,2000" },
    "prefill-passes": { type: "string" },
    batch: { type: "string" },
    "new-tokens": { type: "string" },
    rounds: { type: "string" },
    threads: { type: "string" },
    "cache-dir": { type: "string", default: join(ROOT, ".cache/bench") },
    stories: { type: "string", default: DEFAULT_STORIES },
    help: { type: "boolean", short: "h" },
  }, HELP, { prefix: "bench-latency: " });
  if ("exit" in parsed) return parsed;
  const v = parsed.values;
  if (!(MODELS as readonly string[]).includes(v.model)) throw new UsageError(`unknown model "${v.model}" (known: ${MODELS.join(", ")})`);
  const weights = weightsList(v.weights);
  if (weights.length !== 1) throw new UsageError("--weights takes one precision");
  let settings: Setting[];
  try {
    settings = v.settings.split(",").filter((s) => s.trim()).map(parseSetting);
  } catch (err) {
    throw new UsageError(`--settings: ${(err as Error).message}`);
  }
  if (settings.length === 0) throw new UsageError("--settings is empty");
  const attentions = v.attention.split(",").map((a) => a.trim()).filter(Boolean);
  const unknown = attentions.find((a) => !(ATTENTION_KINDS as readonly string[]).includes(a));
  if (unknown !== undefined || attentions.length === 0) throw new UsageError(`--attention: each of ${ATTENTION_KINDS.join(", ")}, got "${v.attention}"`);
  const replicaCounts = [...new Set(v.replicas.split(",").map((s) => intFlag("replicas", s.trim(), { min: 1, max: 64 }) as number))];
  const segmentings = segmentsFlag(v.segments);
  const segLabel = (n: number | "auto") => (n === "auto" ? "" : n === 0 ? " whole" : ` seg${n}`);
  const columns = replicaCounts.flatMap((replicas) => segmentings.flatMap((segmentLayers) => [...new Set(attentions as AttentionKind[])].flatMap((attention) =>
    settings.map((s) => ({ ...s, attention, replicas, segmentLayers, label: `${s.label}${attention === "plain" ? "" : ` ${attention}`}${segLabel(segmentLayers)}${replicas > 1 ? ` x${replicas}` : ""}` })))));
  const prefillLengths = v["prefill-lengths"].split(",").map((s) => intFlag("prefill-lengths", s.trim(), { min: 2 }) as number);
  return {
    model: v.model as ModelName,
    weights: weights[0] as WeightPrecision,
    settings: columns,
    streams: intFlag("streams", v.streams, { min: 0, default: 2 }),
    longTokens: intFlag("long-tokens", v["long-tokens"], { min: 2, default: 2000 }),
    shortTokens: intFlag("short-tokens", v["short-tokens"], { min: 1, default: 4 }),
    prefillLengths,
    prefillPasses: intFlag("prefill-passes", v["prefill-passes"], { min: 1, max: 99, default: DEFAULT_PREFILL_PASSES }),
    batch: intFlag("batch", v.batch, { min: 2, default: 8 }),
    newTokens: intFlag("new-tokens", v["new-tokens"], { min: 2, default: 32 }),
    rounds: intFlag("rounds", v.rounds, { min: 1, default: 1 }),
    threads: intFlag("threads", v.threads, { min: 0, default: 0 }),
    cacheDir: resolve(v["cache-dir"]),
    stories: resolve(v.stories),
  };
}

const log = (msg: string) => process.stderr.write(`bench-latency: ${msg}\n`);

async function bench(opts: Options): Promise<string> {
  const builds = new Map<AttentionKind, Awaited<ReturnType<typeof prepareModel>>>();
  for (const { attention } of opts.settings) {
    if (!builds.has(attention)) builds.set(attention, await prepareModel(opts.model, opts.weights, { stories: opts.stories, cacheDir: opts.cacheDir, blockSize: DEFAULT_BLOCK_SIZE, accuracyLevel: undefined, seed: 1, attention }));
  }
  const model = builds.values().next().value!;
  const context = model.manifest.dims.contextLength;
  const tooLong = [opts.longTokens, opts.shortTokens, ...opts.prefillLengths].find((n) => n >= context);
  if (tooLong) throw new UsageError(`a ${tooLong}-token prompt does not fit ${opts.model}'s context of ${context}`);
  const engines: (Engine | ReplicaSet)[] = [];
  const logs: StepLog[] = [];
  try {
    for (const s of opts.settings) {
      const build = builds.get(s.attention)!;
      log(`loading ${build.key} with ${s.label}`);
      const steps = new StepLog();
      logs.push(steps);
      const engine = { maxBatch: Math.max(opts.batch, opts.streams + 2), prefillChunk: s.prefillChunk, stepTokens: s.stepTokens, prefillYield: s.prefillYield, idleChunk: s.idleChunk, intraOpThreads: opts.threads, segmentLayers: s.segmentLayers };
      engines.push(s.replicas > 1
        ? await ReplicaSet.load(build.dir, { replicas: s.replicas, engine, onStep: steps.record })
        : await Engine.load(build.dir, { ...engine, onStep: steps.record }));
    }
    const e0 = { tokenizer: await loadModelTokenizer(model.dir, model.manifest), device: engines[0]!.device };
    const prompts = {
      stream: promptOf(e0, 8, 0).text,
      long: promptOf(e0, opts.longTokens, 3).text,
      short: promptOf(e0, opts.shortTokens, 7).text,
    };
    const mixed = { ...prompts, longTokens: e0.tokenizer.encode(prompts.long).length };
    const prefillPrompts = opts.prefillLengths.map((n, i) => promptOf(e0, n, 11 + i).text);
    const decodePrompts = Array.from({ length: opts.batch }, (_, i) => promptOf(e0, 128, 20 + i).text);
    const streamMax = context - e0.tokenizer.encode(prompts.stream).length - 1;
    // Warm-up: one short request per engine (first-run allocations).
    for (const e of engines) await timed(e, "warm", prompts.short, 2);
    const results: Figures[][] = opts.settings.map(() => []);
    for (let r = 0; r < opts.rounds; r++) {
      const round: Partial<Figures>[] = opts.settings.map(() => ({ prefill: {} }));
      const each = async (what: string, f: (e: Backend, out: Partial<Figures>, i: number) => Promise<void>) => {
        for (let i = 0; i < engines.length; i++) {
          log(`round ${r + 1}/${opts.rounds}: ${what}, ${opts.settings[i]!.label}`);
          await f(engines[i]!, round[i]!, i);
        }
      };
      await each(`${opts.streams} streams + a ${opts.longTokens}-token prompt + a short one`, async (e, out, i) => {
        const steps = logs[i]!;
        steps.clear();
        const m = await mixedLoad(e, mixed, opts.streams, streamMax, steps.prefilled);
        Object.assign(out, steps.joinSteps("long", m.long.promptTokens));
        out.gaps = m.streams.map((s) => gapStats(gaps(s)));
        out.longTtftMs = firstTokenMs(m.long);
        out.shortWithStreamsMs = firstTokenMs(m.shortWithStreams);
        out.shortTtftMs = firstTokenMs(m.short);
        out.shortDuringMs = m.during.map(firstTokenMs);
      });
      await each("short prompt alone", async (e, out) => {
        const times = [];
        for (let k = 0; k < 3; k++) times.push(firstTokenMs(await timed(e, "short", prompts.short, 2)));
        out.shortAloneMs = times.sort((a, b) => a - b)[1];
      });
      await each(`prefill of ${opts.prefillLengths.join(", ")} tokens`, async (e, out) => {
        ({ rates: out.prefill, byPass: out.prefillByPass } = await prefillRates(e, prefillPrompts, opts.prefillLengths, opts.prefillPasses));
      });
      await each("decode at batch 1", async (e, out) => {
        out.decodeB1 = await decodeRate(e, decodePrompts.slice(0, 1), opts.newTokens);
      });
      await each(`decode at batch ${opts.batch}`, async (e, out) => {
        out.decodeBatch = await decodeRate(e, decodePrompts, opts.newTokens);
      });
      round.forEach((f, i) => results[i]!.push(f as Figures));
    }
    const ort = (JSON.parse(readFileSync(join(ROOT, "node_modules/onnxruntime-node/package.json"), "utf8")) as { version: string }).version;
    const env = `bench:latency: ${opts.model} (${opts.weights} weights; attention ${[...builds.keys()].join(", ")}), onnxruntime-node ${ort} ${e0.device.toUpperCase()}, ` +
      `${cpus().length} CPUs (${cpus()[0]?.model.trim() ?? "?"}), node ${process.version}, intra-op threads ${opts.threads || "default"}`;
    return report(opts.settings, results, {
      env, streams: opts.streams, longTokens: opts.longTokens, shortTokens: opts.shortTokens, prefillLengths: opts.prefillLengths, prefillPasses: opts.prefillPasses, batch: opts.batch, rounds: opts.rounds,
      dims: model.manifest.dims, headRows: engines.map((e) => (e.segments > 1 ? "last" : "all")),
    });
  } finally {
    for (const e of engines) await e.close();
  }
}

export function main(argv: string[]): Promise<number> {
  return reportMain("bench-latency", HELP, () => parse(argv), bench);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await main(process.argv.slice(2));
}
