/**
 * npm run train-sae -- --model DIR --layer L --input FILES --width N --k K --tokens T --out DIR
 *
 * Trains a TopK sparse autoencoder on a model's residual stream at the output
 * of block L (DESIGN.md's layer L) and writes it in SAELens layout
 * (cfg.json + sae_weights.safetensors) plus training_log.json. The math is
 * in sidecar/sae/train.ts; activations come from sidecar/sae/activations.ts.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { ResidualModel, residualModelDir } from "../sidecar/sae/activations.ts";
import { saveSaeLens } from "../sidecar/sae/load.ts";
import { excludeNear, readTexts } from "../sidecar/sae/texts.ts";
import { defaultLr, evaluateTopKSae, mulberry32, permutation, trainTopKSae } from "../sidecar/sae/train.ts";
import { intFlag, numFlag, parseCli, UsageError } from "./lib/cli.ts";
import { Progress } from "./lib/progress.ts";

const HELP = `Usage: npm run train-sae -- --model DIR --layer L (--input FILES | --sample-stories N) --out DIR [options]

Trains a TopK SAE on the residual stream at the output of block L and writes
it in SAELens layout (cfg.json + sae_weights.safetensors + training_log.json).

Model and layer
  --model DIR            built model directory or checkpoint (llama2.c .bin/folder, HF folder);
                         rebuilt with residual outputs into .cache/models/NAME-resid when needed
  --layer L              residual stream at the output of block L (0-based)

Data (held-out texts are split off before training)
  --input FILES          comma-separated (or repeated) text files: .txt (one text per line),
                         .json (array of strings/objects), .jsonl, .csv (header row); from objects
                         and rows the first of prompt, instruction, goal, behavior, forbidden_prompt,
                         question, text, input, query, content is taken
  --field NAME           take this field instead
  --chat                 wrap each --input text as one user turn in the model's chat template with
                         the generation prompt (chat prompts over --context tokens are skipped)
  --sample-stories N     also sample N plain texts from the model itself (from BOS, temperature 0.8,
                         at most --context tokens, seeded by --seed)
  --max-per-file N       use at most N texts of each input file (a seeded random subset)
  --exclude FILES        drop input texts whose word set has Jaccard >= --exclude-jaccard (default
                         0.6) with any text of these files (held-out evaluation sets)
  --context N            max tokens per text (default 256; plain texts are cut)
  --holdout F            fraction of texts held out for the final FVE (default 0.1)
  --include-bos          also train on position 0 (BOS; skipped by default: its residual is an outlier)

SAE and optimiser
  --width N              number of latents (default 1024)
  --k K                  active latents per token (default 16)
  --tokens T             training tokens (activation vectors) to consume (default 1000000);
                         the collected tokens repeat in fresh orders when fewer
  --batch N              tokens per Adam step (default 1024)
  --lr X                 peak learning rate (default 2e-4 / sqrt(width / 16384), at most 2e-3)
  --auxk-coef X          AuxK loss coefficient for dead latents (default 1/32; 0 = off)
  --dead-window N        a latent not fired in N training tokens is dead (default min(200000, T/5))
  --seed N               seed for the split, sampling, init and order (default 0)
  --threads N            onnxruntime threads for activation collection (default 1)

Output
  --out DIR              output folder (created)
  --quiet                no progress bar
  -h, --help             show this help
`;

function list(v: string[] | undefined): string[] {
  return (v ?? []).flatMap((s) => s.split(",")).map((s) => s.trim()).filter(Boolean);
}

export async function main(argv: string[]): Promise<number> {
  const parsed = parseCli(argv, {
    model: { type: "string" },
    layer: { type: "string" },
    input: { type: "string", multiple: true },
    field: { type: "string" },
    chat: { type: "boolean" },
    "sample-stories": { type: "string" },
    "max-per-file": { type: "string" },
    exclude: { type: "string", multiple: true },
    "exclude-jaccard": { type: "string" },
    context: { type: "string" },
    holdout: { type: "string" },
    "include-bos": { type: "boolean" },
    width: { type: "string" },
    k: { type: "string" },
    tokens: { type: "string" },
    batch: { type: "string" },
    lr: { type: "string" },
    "auxk-coef": { type: "string" },
    "dead-window": { type: "string" },
    seed: { type: "string" },
    threads: { type: "string" },
    out: { type: "string" },
    quiet: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  }, HELP);
  if ("exit" in parsed) return parsed.exit;
  const { values } = parsed;
  let o;
  try {
    const inputs = list(values.input);
    const sampleStories = intFlag("sample-stories", values["sample-stories"], { min: 0, default: 0 });
    if (!values.model || values.layer === undefined || !values.out) throw new UsageError("--model, --layer and --out are required");
    if (inputs.length === 0 && sampleStories === 0) throw new UsageError("give --input FILES and/or --sample-stories N");
    const width = intFlag("width", values.width, { min: 1, default: 1024 });
    const k = intFlag("k", values.k, { min: 1, default: 16 });
    if (k > width) throw new UsageError(`--k (${k}) must not exceed --width (${width})`);
    o = {
      model: values.model, layer: intFlag("layer", values.layer, { min: 0 })!, out: resolve(values.out), inputs, sampleStories,
      field: values.field, chat: values.chat ?? false, maxPerFile: intFlag("max-per-file", values["max-per-file"], { min: 1 }),
      exclude: list(values.exclude), excludeJaccard: numFlag("exclude-jaccard", values["exclude-jaccard"], { min: 0, max: 1, default: 0.6 }),
      context: intFlag("context", values.context, { min: 2, default: 256 }), holdout: numFlag("holdout", values.holdout, { min: 0, max: 0.9, default: 0.1 }),
      includeBos: values["include-bos"] ?? false, width, k,
      tokens: intFlag("tokens", values.tokens, { min: 1, default: 1_000_000 }), batch: intFlag("batch", values.batch, { min: 1, default: 1024 }),
      lr: numFlag("lr", values.lr, { min: 0, default: defaultLr(width) }), auxkCoef: numFlag("auxk-coef", values["auxk-coef"], { min: 0, default: 1 / 32 }),
      deadWindow: intFlag("dead-window", values["dead-window"], { min: 1 }), seed: intFlag("seed", values.seed, { min: 0, default: 0 }),
      threads: intFlag("threads", values.threads, { min: 1, default: 1 }), quiet: values.quiet ?? false,
    };
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`${e.message}\n\n${HELP}`);
      return 2;
    }
    throw e;
  }
  try {
    await run(o, argv);
    return 0;
  } catch (e) {
    process.stderr.write(`train-sae: ${(e as Error).message}\n`);
    return 1;
  }
}

interface RunOptions {
  model: string; layer: number; out: string; inputs: string[]; sampleStories: number; field?: string; chat: boolean;
  maxPerFile?: number; exclude: string[]; excludeJaccard: number; context: number; holdout: number; includeBos: boolean;
  width: number; k: number; tokens: number; batch: number; lr: number; auxkCoef: number; deadWindow?: number; seed: number;
  threads: number; quiet: boolean;
}

async function run(o: RunOptions, argv: string[]): Promise<void> {
  const t0 = performance.now();
  const log = (m: string) => process.stderr.write(`${m}\n`);
  const dir = await residualModelDir(o.model, { log });
  const model = await ResidualModel.load(dir, { threads: o.threads });
  const m = model.manifest;
  if (o.layer >= m.dims.nLayers) throw new Error(`--layer ${o.layer}: model ${m.id} has blocks 0..${m.dims.nLayers - 1}`);

  // --- texts -> token sequences ---
  const excluded = o.exclude.flatMap((f) => readTexts(f));
  const seqs: number[][] = [];
  const sources: { file: string; texts: number; used: number; excluded: number; skippedLong: number; tokens: number }[] = [];
  const rand = mulberry32(o.seed);
  for (const file of o.inputs) {
    let texts = readTexts(file, { field: o.field });
    const total = texts.length;
    let dropped = 0;
    if (excluded.length) ({ kept: texts, dropped } = excludeNear(texts, excluded, o.excludeJaccard));
    if (o.maxPerFile !== undefined && texts.length > o.maxPerFile) {
      const p = permutation(texts.length, rand);
      texts = Array.from(p.subarray(0, o.maxPerFile)).sort((a, b) => a - b).map((i) => texts[i]);
    }
    let skippedLong = 0;
    let tokens = 0;
    for (const t of texts) {
      let ids = o.chat ? model.encodeChatPrompt(t) : model.encodePlain(t);
      if (ids.length > o.context) {
        if (o.chat) {
          skippedLong++;
          continue;
        }
        ids = ids.slice(0, o.context);
      }
      seqs.push(ids);
      tokens += ids.length;
    }
    sources.push({ file: relative(process.cwd(), resolve(file)), texts: total, used: texts.length - skippedLong, excluded: dropped, skippedLong, tokens });
    log(`${file}: ${texts.length - skippedLong} of ${total} texts${dropped ? ` (${dropped} near held-out texts dropped)` : ""}${skippedLong ? ` (${skippedLong} over ${o.context} tokens skipped)` : ""}, ${tokens} tokens`);
  }
  if (o.sampleStories > 0) {
    const ts = performance.now();
    const bar = o.quiet ? undefined : new Progress({ total: o.sampleStories, label: "sample" });
    let last = 0;
    const stories = await model.sample(o.sampleStories, {
      maxTokens: o.context, temperature: 0.8, seed: o.seed + 1,
      onBatch: (done) => {
        bar?.tick(done - last);
        last = done;
      },
    });
    bar?.finish();
    const tokens = stories.reduce((a, s) => a + s.length, 0);
    seqs.push(...stories);
    sources.push({ file: `sampled from ${m.id} (temperature 0.8, from BOS)`, texts: stories.length, used: stories.length, excluded: 0, skippedLong: 0, tokens });
    log(`sampled ${stories.length} plain texts from ${m.id}: ${tokens} tokens in ${((performance.now() - ts) / 1000).toFixed(1)}s`);
  }

  // --- held-out split by text, then activations ---
  const perm = permutation(seqs.length, rand);
  const nHold = Math.round(seqs.length * o.holdout);
  const holdSeqs = Array.from(perm.subarray(0, nHold), (i) => seqs[i]);
  const trainSeqs = Array.from(perm.subarray(nHold), (i) => seqs[i]);
  if (trainSeqs.length === 0) throw new Error("no training texts left after the held-out split");
  const tc = performance.now();
  const trainActs = await model.collect(trainSeqs, o.layer, { skipFirst: !o.includeBos });
  const holdActs = nHold > 0 ? await model.collect(holdSeqs, o.layer, { skipFirst: !o.includeBos }) : new Float32Array(0);
  await model.release();
  const D = m.dims.dModel;
  const trainTokens = trainActs.length / D;
  const holdTokens = holdActs.length / D;
  if (trainTokens === 0) throw new Error("no training tokens (texts too short?)");
  log(`collected layer ${o.layer} activations: ${trainTokens} training and ${holdTokens} held-out tokens (${trainSeqs.length} / ${holdSeqs.length} texts) in ${((performance.now() - tc) / 1000).toFixed(1)}s`);

  // --- train ---
  const steps = Math.ceil(o.tokens / o.batch);
  const bar = o.quiet ? undefined : new Progress({ total: steps, label: "train-sae" });
  const res = trainTopKSae(trainActs, {
    dIn: D, width: o.width, k: o.k, tokens: o.tokens, batchSize: o.batch, lr: o.lr, seed: o.seed, auxkCoef: o.auxkCoef,
    deadWindow: o.deadWindow, layer: o.layer, source: o.out,
    onStep: (s) => bar?.tick(1, `loss ${s.loss.toFixed(4)} fve ${s.fveEma.toFixed(4)} dead ${s.dead}`),
  });
  bar?.finish(`fve ${res.trainFve.toFixed(4)} dead ${res.dead}`);
  const held = holdTokens > 0 ? evaluateTopKSae(res.sae, holdActs) : undefined;
  const trainEval = evaluateTopKSae(res.sae, trainActs.subarray(0, Math.min(trainActs.length, 200_000 * D)));
  const seconds = (performance.now() - t0) / 1000;

  // --- write ---
  mkdirSync(o.out, { recursive: true });
  const round = (x: number) => Number(x.toFixed(5));
  const meta = {
    model_name: m.id,
    model_source: m.source.path,
    model_sha256: m.source.sha256,
    hook_layer: o.layer,
    context_size: o.context,
    prepend_bos: true,
    exclude_bos_position: !o.includeBos,
    chat_format: o.chat,
    training_tokens: res.tokensSeen,
    unique_training_tokens: trainTokens,
    heldout_tokens: holdTokens,
    heldout_fve: held ? round(held.fve) : null,
    heldout_l0: held ? round(held.l0) : null,
    train_fve: round(trainEval.fve),
    dead_features: res.dead,
    dead_window_tokens: res.deadWindow,
    lr: res.lr,
    batch_size: res.batchSize,
    auxk_coef: res.auxkCoef,
    seed: o.seed,
    training_seconds: round(res.seconds),
    total_seconds: round(seconds),
    trained_with: "steerguard train-sae (scripts/train-sae.ts)",
    command: `npm run train-sae -- ${argv.join(" ")}`,
  };
  saveSaeLens(o.out, res.sae, meta);
  writeFileSync(join(o.out, "training_log.json"), JSON.stringify({
    ...meta,
    sources,
    heldout: held ?? null,
    train_eval_sample: trainEval,
    steps: res.steps,
    history: res.history,
  }, null, 2) + "\n");
  const summary = `trained TopK SAE (width ${o.width}, k ${o.k}) on ${m.id} layer ${o.layer}: ${res.tokensSeen} tokens, ` +
    `held-out FVE ${held ? held.fve.toFixed(4) : "n/a"} (${holdTokens} tokens), train FVE ${trainEval.fve.toFixed(4)}, ` +
    `dead ${res.dead}/${o.width}, training ${res.seconds.toFixed(1)}s, total ${seconds.toFixed(1)}s -> ${o.out}`;
  process.stdout.write(`${summary}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await main(process.argv.slice(2));
}
