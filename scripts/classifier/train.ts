/**
 * npm run train:classifier -- [--data DIR] [--out FILE] [--seed N] ...
 *
 * Trains the prompt-risk classifier from the training-side files only, picks the
 * threshold on the training-side validation split, and writes the versioned
 * artifact (edge/classifier/risk-model.v2.json by default).
 */
import { writeFileSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { DEFAULT_FEATURE_CONFIG, Featurizer, type FeatureConfig } from "../../edge/classifier/features.ts";
import { RiskModel } from "../../edge/classifier/model.ts";
import { Progress } from "../lib/progress.ts";
import { heldOutKeys, loadHeldOut, loadTrainingData } from "./data.ts";
import { buildDataset } from "./dataset.ts";
import { auroc, rateAtOrAbove, thresholdForFpr } from "./metrics.ts";
import { DEFAULT_ARTIFACT, DEFAULT_DATA_DIR, REPO_ROOT } from "./paths.ts";
import { DEFAULT_FTRL, toArtifact, trainFtrl, vectorize, type SparseExample } from "./train-lib.ts";
import { DEFAULT_DENSE, DenseHead, pooledFromWords } from "./dense-head.ts";
import { GLOVE_SOURCE, loadWordVectors, type WordVectors } from "./glove.ts";
import { CONTRAST_SETS, contrastSet, fieldCounterfactuals } from "./augment.ts";
import { backgroundBooks, backgroundPassages, DEFAULT_BACKGROUND } from "./background.ts";
import { buildBags } from "./bags.ts";

export const MODEL_VERSION = "2.3.0";

/** Per-source weight multipliers of the shipped model (see MODEL_CARD.md). */
export const DEFAULT_SOURCE_WEIGHTS: Record<string, number> = {};

const HELP = `Usage: npm run train:classifier -- [options]

Trains the edge prompt-risk classifier (hashed char/word n-grams + logistic
regression, FTRL-Proximal) on the training-side files of ../shared/data and writes
the artifact. Held-out files are read only to remove overlapping prompts.

Options:
  --data DIR            data folder (default: <repo>/../shared/data)
  --out FILE            artifact path (default: edge/classifier/risk-model.v2.json)
  --seed N              seed for split, sampling and shuffling (default 42)
  --val-frac F          validation fraction of training-side prompts/templates (default 0.15)
  --dim-log2 N          hash buckets = 2^N (default 18)
  --char-min N --char-max N   character n-gram range (default ${DEFAULT_FEATURE_CONFIG.charMin}-${DEFAULT_FEATURE_CONFIG.charMax})
  --no-bigrams          no word bigrams
  --drop-stopwords      drop function words before hashing (off: it lowered validation AUROC)
  --epochs N            FTRL epochs (default ${DEFAULT_FTRL.epochs})
  --alpha F --beta F --l1 F --l2 F   FTRL hyper-parameters (defaults ${DEFAULT_FTRL.alpha} ${DEFAULT_FTRL.beta} ${DEFAULT_FTRL.l1} ${DEFAULT_FTRL.l2})
  --no-field-augment    no harmless questions about harmfulqa's fields (augment.ts)
  --contrast FILE       hand-written contrast set (repeatable; default scripts/classifier/contrast-set*.json)
  --no-contrast         train without the contrast set
  --background-per-book N   benign prose passages from each public-domain book (background.ts;
                        default ${DEFAULT_BACKGROUND.perBook}; 0 = none)
  --bag-training        train each long example as a bag of the sentences the scorer takes its
                        max over (bags.ts), except benign template-wrapped ones (bagging those
                        teaches the model to ignore templates). Off by default: it lowers
                        over-refusal and capability-question flags, but recall too (model card)
  --embedding-vocab N   words of the GloVe embedding head (default 60000; 0 = n-grams only)
  --hidden N            hidden units of the embedding head (default ${DEFAULT_DENSE.hidden})
  --dense-lr F --dense-l2 F   Adam step and weight decay of the head (defaults ${DEFAULT_DENSE.lr} ${DEFAULT_DENSE.l2})
  --sif-a F             SIF word-weight constant a (default ${DEFAULT_DENSE.sifA})
  --pos-weight F        total weight of harmful relative to benign (default 1)
  --source-balance P    example weight n_source^-P within its class (default 0.5)
  --wrapped-share F     share of each class's weight on template-wrapped examples (default 0.25)
  --segment-min-chars N also score sentences/lines of at least N chars, take the max (0 = off; default 20)
  --segment-min-text N  ... only in texts of at least N chars (default 600)
  --per-template-harmful N / --per-template-benign N   wrapped examples per template (default 3 / 3)
  --target-fpr F        threshold = lowest with validation benign FPR <= F (default 0.02)
  --val-mode M           random (default; shipped) or shift: validate on whole unseen training-side
                        files (catqa, dangerousqa, alpaca_eval, self_instruct, vicuna, mt_bench) to
                        compare settings for transfer; implies --no-write
  --no-write            train and report, do not write the artifact
  --source-weight SRC=F multiply a source's weights by F (repeatable; e.g. red_instruct/harmfulqa=0.3)
  --dump-val FILE       write validation scores as JSONL (for error analysis)
  -h, --help            this help
`;

/** Sparse vectors of the texts, and each text's word hashes (for the embedding head) from the same pass. */
function sideVectors(f: Featurizer, texts: readonly string[], label: string): { vectors: { idx: Int32Array; val: Float32Array }[]; words: Int32Array[] } {
  const bar = new Progress({ total: texts.length, label });
  const words: Int32Array[] = [];
  const vectors = texts.map((text, i) => {
    const v = vectorize(f, text);
    words.push(f.wordHashes().slice());
    if ((i & 255) === 255) bar.tick(256);
    return v;
  });
  bar.finish();
  return { vectors, words };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      data: { type: "string", default: DEFAULT_DATA_DIR },
      out: { type: "string", default: DEFAULT_ARTIFACT },
      seed: { type: "string", default: "42" },
      "val-frac": { type: "string", default: "0.15" },
      "dim-log2": { type: "string", default: "18" },
      "char-min": { type: "string", default: String(DEFAULT_FEATURE_CONFIG.charMin) },
      "char-max": { type: "string", default: String(DEFAULT_FEATURE_CONFIG.charMax) },
      "no-bigrams": { type: "boolean", default: false },
      "drop-stopwords": { type: "boolean", default: false },
      epochs: { type: "string", default: String(DEFAULT_FTRL.epochs) },
      alpha: { type: "string", default: String(DEFAULT_FTRL.alpha) },
      beta: { type: "string", default: String(DEFAULT_FTRL.beta) },
      l1: { type: "string", default: String(DEFAULT_FTRL.l1) },
      l2: { type: "string", default: String(DEFAULT_FTRL.l2) },
      "pos-weight": { type: "string", default: "1" },
      "embedding-vocab": { type: "string", default: "60000" },
      "no-field-augment": { type: "boolean", default: false },
      contrast: { type: "string", multiple: true },
      "no-contrast": { type: "boolean", default: false },
      "background-per-book": { type: "string", default: String(DEFAULT_BACKGROUND.perBook) },
      "bag-training": { type: "boolean", default: false },
      hidden: { type: "string", default: String(DEFAULT_DENSE.hidden) },
      "dense-lr": { type: "string", default: String(DEFAULT_DENSE.lr) },
      "dense-l2": { type: "string", default: String(DEFAULT_DENSE.l2) },
      "sif-a": { type: "string", default: String(DEFAULT_DENSE.sifA) },
      "source-balance": { type: "string", default: "0.5" },
      "wrapped-share": { type: "string", default: "0.25" },
      "segment-min-chars": { type: "string", default: "20" },
      "segment-min-text": { type: "string", default: "600" },
      "per-template-harmful": { type: "string", default: "3" },
      "per-template-benign": { type: "string", default: "3" },
      "target-fpr": { type: "string", default: "0.02" },
      "no-write": { type: "boolean", default: false },
      "dump-val": { type: "string" },
      "source-weight": { type: "string", multiple: true },
      "val-mode": { type: "string", default: "random" },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const num = (k: keyof typeof values): number => {
    const v = Number(values[k]);
    if (!Number.isFinite(v)) throw new Error(`--${String(k)} must be a number`);
    return v;
  };
  const t0 = performance.now();
  const dataDir = resolve(REPO_ROOT, values.data!);
  const seed = num("seed") | 0;
  const features: FeatureConfig = {
    ...DEFAULT_FEATURE_CONFIG,
    dim: 1 << num("dim-log2"),
    charMin: num("char-min"),
    charMax: num("char-max"),
    wordBigrams: !values["no-bigrams"],
    dropStopwords: values["drop-stopwords"],
  };
  const ftrl = { alpha: num("alpha"), beta: num("beta"), l1: num("l1"), l2: num("l2"), epochs: num("epochs"), seed };
  const targetFpr = num("target-fpr");
  const segMin = num("segment-min-chars");
  const segments = segMin > 0 ? { minTextChars: num("segment-min-text"), minChars: segMin, maxSegments: 96 } : undefined;
  const posWeight = num("pos-weight");

  console.error(`loading ${dataDir}`);
  const data = loadTrainingData(dataDir);
  if (!values["no-field-augment"]) data.benign.push(...fieldCounterfactuals(dataDir, seed));
  if (!values["no-contrast"]) {
    const files = values.contrast?.map((f) => resolve(process.cwd(), f)) ?? CONTRAST_SETS;
    for (const x of contrastSet(files)) (x.label === 1 ? data.harmful : data.benign).push(x);
  }
  const perBook = num("background-per-book");
  if (perBook > 0) data.benign.push(...backgroundPassages({ ...DEFAULT_BACKGROUND, perBook, seed }));
  const held = heldOutKeys(loadHeldOut(dataDir));
  const ds = buildDataset(data, held, {
    seed,
    valFrac: num("val-frac"),
    perTemplateHarmful: num("per-template-harmful"),
    perTemplateBenign: num("per-template-benign"),
    valMode: values["val-mode"] === "shift" ? "shift" : "random",
  });
  console.error(`train ${ds.train.length} examples, validation ${ds.val.length}; removed overlaps with held-out: ${JSON.stringify(ds.removedOverlaps)}`);

  // The embedding head's word vectors.
  const vocab = num("embedding-vocab");
  const wv = vocab > 0 ? loadWordVectors(vocab) : undefined;
  if (wv) console.error(`word vectors: ${wv.words.length} words x ${wv.dim} (${GLOVE_SOURCE})`);

  const f = new Featurizer(features);
  // With --bag-training, long examples become bags of the texts the scorer takes
  // its max over (bags.ts); otherwise every example is a bag of one.
  const bags = buildBags(
    ds.train.map((x) => x.text),
    features.maxChars,
    // (not the benign template-wrapped ones: see --bag-training in the help)
    ds.train.map((x) => (values["bag-training"] && !(x.kind === "wrapped" && x.y === 0) ? segments : undefined)),
  );
  console.error(`bags: ${ds.train.length} examples, ${bags.rows.length} member texts`);
  const trainVec = sideVectors(f, bags.rows, "featurize train");
  // Weights: within a class, a direct example from a source of n examples weighs
  // n^-sourceBalance (0 = every example equal, 1 = every source equal), so one big
  // templated file (harmfulqa, GSM8K) does not define its class; template-wrapped
  // examples share --wrapped-share of their class's weight. The classes carry equal
  // total weight (harmful times --pos-weight); the mean weight is 1.
  const sourceBalance = num("source-balance");
  const wrappedShare = num("wrapped-share");
  const perSource = new Map<string, number>();
  for (const x of ds.train) perSource.set(x.source, (perSource.get(x.source) ?? 0) + 1);
  const sourceWeights: Record<string, number> = { ...DEFAULT_SOURCE_WEIGHTS };
  for (const kv of values["source-weight"] ?? []) {
    const [k, v] = kv.split("=");
    if (!k || !Number.isFinite(Number(v))) throw new Error(`--source-weight wants SRC=F, got ${kv}`);
    sourceWeights[k] = Number(v);
  }
  const raw = ds.train.map((x) =>
    x.kind === "wrapped" ? 1 : Math.pow(perSource.get(x.source)!, -sourceBalance) * (sourceWeights[x.source] ?? 1),
  );
  const sums = { direct: [0, 0], wrapped: [0, 0] };
  ds.train.forEach((x, i) => (sums[x.kind][x.y] += raw[i]));
  const classTarget = [ds.train.length / (1 + posWeight), (ds.train.length * posWeight) / (1 + posWeight)];
  const examples: SparseExample[] = [];
  ds.train.forEach((x, i) => {
    const share = x.kind === "wrapped" ? wrappedShare : sums.wrapped[x.y] > 0 ? 1 - wrappedShare : 1;
    const weight = (raw[i] * share * classTarget[x.y]) / sums[x.kind][x.y];
    for (let r = bags.offsets[i]; r < bags.offsets[i + 1]; r++) examples.push({ ...trainVec.vectors[r], y: x.y, weight });
  });

  // The embedding head (see edge/classifier/embedding.ts), trained jointly with the n-gram weights.
  let head: { dense: DenseHead; wv: WordVectors } | undefined;
  const dense = { ...DEFAULT_DENSE, hidden: num("hidden"), lr: num("dense-lr"), l2: num("dense-l2"), sifA: num("sif-a"), seed };
  if (wv) {
    const pooled = pooledFromWords(wv, trainVec.words, dense.sifA);
    head = { dense: new DenseHead(pooled, wv.dim, dense), wv };
  }

  const bar = new Progress({ total: ds.train.length * ftrl.epochs, label: "train" });
  const tTrain = performance.now();
  let reported = 0;
  const model = trainFtrl(examples, features.dim, {
    ...ftrl,
    onProgress: (d) => {
      bar.tick(d - reported);
      reported = d;
    },
    onEpoch: (e, loss) => console.error(`epoch ${e + 1}/${ftrl.epochs} loss ${loss.toFixed(4)}`),
    dense: head?.dense,
    bags: bags.offsets,
  });
  bar.finish();
  const trainSeconds = (performance.now() - tTrain) / 1000;

  // Validation through the shipped scorer (quantised weights, raw text).
  const embedding = head?.dense.toArtifact(head.wv, GLOVE_SOURCE);
  const provisional = RiskModel.fromArtifact(toArtifact(model, features, 0.5, MODEL_VERSION, null, segments, embedding));
  const scored = ds.val.map((x) => ({ ...x, s: provisional.scoreText(x.text) }));
  if (values["dump-val"]) {
    writeFileSync(resolve(process.cwd(), values["dump-val"]), scored.map((x) => JSON.stringify({ s: x.s, y: x.y, source: x.source, text: x.text.slice(0, 300) })).join("\n") + "\n");
  }
  const pick = (pred: (x: (typeof scored)[number]) => boolean) => scored.filter(pred).map((x) => x.s);
  const valPos = pick((x) => x.y === 1);
  const valNeg = pick((x) => x.y === 0);
  const valNegDirect = pick((x) => x.y === 0 && x.kind === "direct");
  // The threshold's benign pool: ordinary instructions, not the hand-written hard cases.
  const valNegOrdinary = pick((x) => x.y === 0 && x.kind === "direct" && !x.source.startsWith("augment/"));
  const valNegContrast = pick((x) => x.y === 0 && /^augment\/contrast(-\d+)?-benign$/.test(x.source));
  const valPosDirect = pick((x) => x.y === 1 && x.kind === "direct");
  const valPosWrapped = pick((x) => x.y === 1 && x.kind === "wrapped");
  const valNegWrapped = pick((x) => x.y === 0 && x.kind === "wrapped");
  // Threshold: the lowest risk whose FPR on validation benign *instructions*
  // (unwrapped, from the files) is at most --target-fpr; training-side data only.
  const threshold = thresholdForFpr(valNegOrdinary, targetFpr);
  const valMetrics = {
    auroc_direct: auroc(valPosDirect, valNegDirect),
    auroc_all: auroc(valPos, valNeg),
    threshold,
    recall_direct: rateAtOrAbove(valPosDirect, threshold),
    recall_wrapped: rateAtOrAbove(valPosWrapped, threshold),
    fpr_direct: rateAtOrAbove(valNegDirect, threshold),
    fpr_ordinary: rateAtOrAbove(valNegOrdinary, threshold),
    fpr_contrast: rateAtOrAbove(valNegContrast, threshold),
    fpr_wrapped_benign: rateAtOrAbove(valNegWrapped, threshold),
    n: { pos_direct: valPosDirect.length, pos_wrapped: valPosWrapped.length, neg_direct: valNegDirect.length, neg_wrapped: valNegWrapped.length },
  };
  console.error("validation:", JSON.stringify(valMetrics, null, 1));
  const bySource: Record<string, string> = {};
  for (const src of [...new Set(scored.map((x) => x.source))].sort()) {
    const s = scored.filter((x) => x.source === src);
    bySource[src] = `${(rateAtOrAbove(s.map((x) => x.s), threshold) * 100).toFixed(1)}% flagged of ${s.length}`;
  }
  console.error("validation by source:", JSON.stringify(bySource, null, 1));

  const training = {
    seed,
    modelVersion: MODEL_VERSION,
    ftrl: { alpha: ftrl.alpha, beta: ftrl.beta, l1: ftrl.l1, l2: ftrl.l2, epochs: ftrl.epochs },
    embeddingHead: head ? { vocab: head.wv.words.length, hidden: dense.hidden, lr: dense.lr, l2: dense.l2, sifA: dense.sifA, batch: dense.batch } : null,
    augment: {
      harmfulqaFields: !values["no-field-augment"],
      contrastSet: !values["no-contrast"],
      background: perBook > 0 ? { perBook, longShare: DEFAULT_BACKGROUND.longShare, books: backgroundBooks() } : null,
    },
    bagTraining: values["bag-training"],
    posWeight,
    sourceBalance,
    wrappedShare,
    sourceWeights,
    thresholdRule: `lowest threshold with FPR <= ${targetFpr} on validation benign instructions from the files (contrast set excluded)`,
    counts: ds.counts,
    removedOverlapsWithHeldOut: ds.removedOverlaps,
    validation: valMetrics,
  };
  const artifact = toArtifact(model, features, threshold, MODEL_VERSION, training, segments, embedding);
  if (!values["no-write"] && values["val-mode"] === "random") {
    const out = resolve(REPO_ROOT, values.out!);
    writeFileSync(out, JSON.stringify(artifact) + "\n");
    console.error(`wrote ${out} (${(statSync(out).size / 1e6).toFixed(2)} MB), threshold ${threshold.toFixed(4)}`);
  }
  console.error(`total ${((performance.now() - t0) / 1000).toFixed(1)} s (FTRL ${trainSeconds.toFixed(1)} s)`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.stack ?? e.message : e);
  process.exit(1);
});
