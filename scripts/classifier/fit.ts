/**
 * One training run of the prompt-risk classifier, from loaded data to artifact:
 * split (dataset.ts), featurise, weight the examples, train the n-gram weights
 * and the embedding head together (trainFtrl), and pick the threshold on the
 * validation split through the shipped scorer.
 *
 * `npm run train:classifier` (train.ts) calls it once and writes the artifact;
 * `npm run ceiling:classifier` (ceiling.ts) calls it once per fold.
 */
import { Featurizer, type FeatureConfig } from "../../edge/classifier/features.ts";
import { RiskModel, type RiskArtifact, type SegmentRule } from "../../edge/classifier/model.ts";
import { Progress } from "../lib/progress.ts";
import { loadTrainingData, type TrainingData } from "./data.ts";
import { contrastSet, fieldCounterfactuals } from "./augment.ts";
import { backgroundPassages, DEFAULT_BACKGROUND } from "./background.ts";
import { buildDataset, type BuildOptions, type BuiltDataset, type LabelledText } from "./dataset.ts";
import { auroc, rateAtOrAbove, thresholdForFpr } from "./metrics.ts";
import { toArtifact, trainFtrl, vectorize, type FtrlOptions, type SparseExample } from "./train-lib.ts";
import { DenseHead, pooledFromWords, type DenseOptions } from "./dense-head.ts";
import { GLOVE_SOURCE, type WordVectors } from "./glove.ts";
import { buildBags } from "./bags.ts";

export interface FitOptions {
  features: FeatureConfig;
  ftrl: FtrlOptions;
  build: BuildOptions;
  /** embedding head settings and its word vectors; absent = n-grams only */
  dense?: { opts: DenseOptions; wv: WordVectors };
  segments?: SegmentRule;
  /** total weight of harmful relative to benign */
  posWeight: number;
  /** a direct example from a source of n examples weighs n^-sourceBalance within its class */
  sourceBalance: number;
  /** share of each class's weight on template-wrapped examples */
  wrappedShare: number;
  /** per-source weight multipliers */
  sourceWeights: Record<string, number>;
  /** train long examples as bags (bags.ts) */
  bagTraining: boolean;
  /** threshold = lowest with validation benign-instruction FPR at or below this */
  targetFpr: number;
  /** the validation examples whose FPR sets the threshold (default: ORDINARY_BENIGN) */
  thresholdPool?: (x: LabelledText) => boolean;
  modelVersion: string;
  /** no log lines or progress bars (tests) */
  quiet?: boolean;
}

export const MODEL_VERSION = "2.5.0";

/** Per-source weight multipliers of the shipped model (see MODEL_CARD.md). */
export const DEFAULT_SOURCE_WEIGHTS: Record<string, number> = {};

/** Settings of the shipped model that train.ts's flags default to. */
export const DEFAULT_FIT = {
  valFrac: 0.15,
  perTemplateHarmful: 3,
  perTemplateBenign: 3,
  posWeight: 1,
  sourceBalance: 0.5,
  wrappedShare: 0.25,
  targetFpr: 0.02,
  dimLog2: 18,
  embeddingVocab: 60000,
  segments: { minTextChars: 600, minChars: 20, maxSegments: 96 } satisfies SegmentRule,
};

/** The shipped threshold pool: benign instructions from the files, not the hand-written or added sets. */
export const ORDINARY_BENIGN = (x: LabelledText): boolean => x.y === 0 && x.kind === "direct" && !x.source.startsWith("augment/");

/** What is added to the listed training files (augment.ts, background.ts). */
export interface AugmentOptions {
  /** harmless questions about harmfulqa's fields */
  fieldAugment: boolean;
  /** hand-written contrast-set files (empty: none) */
  contrastFiles: readonly string[];
  /** background prose passages per book (0: none) */
  backgroundPerBook: number;
  seed: number;
}

/**
 * The training-side files plus the project's additions, as the shipped model is
 * trained. `files` (default: read from dataDir) is not modified.
 */
export function assembleTrainingData(dataDir: string, a: AugmentOptions, files: TrainingData = loadTrainingData(dataDir)): TrainingData {
  const data: TrainingData = { harmful: [...files.harmful], benign: [...files.benign], templates: files.templates };
  if (a.fieldAugment) data.benign.push(...fieldCounterfactuals(dataDir, a.seed));
  for (const x of contrastSet(a.contrastFiles)) (x.label === 1 ? data.harmful : data.benign).push(x);
  if (a.backgroundPerBook > 0) data.benign.push(...backgroundPassages({ ...DEFAULT_BACKGROUND, perBook: a.backgroundPerBook, seed: a.seed }));
  return data;
}

export interface ValidationMetrics {
  auroc_direct: number;
  auroc_all: number;
  threshold: number;
  recall_direct: number;
  recall_wrapped: number;
  fpr_direct: number;
  fpr_ordinary: number;
  fpr_contrast: number;
  fpr_wrapped_benign: number;
  n: { pos_direct: number; pos_wrapped: number; neg_direct: number; neg_wrapped: number };
}

export interface FitResult {
  ds: BuiltDataset;
  /** the artifact without training metadata (`training` is null) */
  artifact: RiskArtifact;
  /** the shipped scorer over `artifact` */
  model: RiskModel;
  threshold: number;
  validation: ValidationMetrics;
  /** percentage flagged per validation source */
  bySource: Record<string, string>;
  /** validation examples with their risk */
  scored: (LabelledText & { s: number })[];
  trainSeconds: number;
}

/** Sparse vectors of the texts, and each text's word hashes (for the embedding head) from the same pass. */
function sideVectors(f: Featurizer, texts: readonly string[], label: string, quiet: boolean): { vectors: { idx: Int32Array; val: Float32Array }[]; words: Int32Array[] } {
  const bar = quiet ? undefined : new Progress({ total: texts.length, label });
  const words: Int32Array[] = [];
  const vectors = texts.map((text, i) => {
    const v = vectorize(f, text);
    words.push(f.wordHashes().slice());
    if ((i & 255) === 255) bar?.tick(256);
    return v;
  });
  bar?.finish();
  return { vectors, words };
}

/**
 * Trains on `data` (after removing prompts whose normalised text is in
 * `heldOut`) and returns the artifact at the threshold chosen on validation.
 */
export function fitClassifier(data: TrainingData, heldOut: Set<string>, o: FitOptions): FitResult {
  const log = o.quiet ? () => {} : (msg: string) => console.error(msg);
  const ds = buildDataset(data, heldOut, o.build);
  log(`train ${ds.train.length} examples, validation ${ds.val.length}; removed overlaps with held-out: ${JSON.stringify(ds.removedOverlaps)}`);

  const f = new Featurizer(o.features);
  // With bag training, long examples become bags of the texts the scorer takes
  // its max over (bags.ts); otherwise every example is a bag of one.
  const bags = buildBags(
    ds.train.map((x) => x.text),
    o.features.maxChars,
    // (not the benign template-wrapped ones: bagging those teaches the model to ignore templates)
    ds.train.map((x) => (o.bagTraining && !(x.kind === "wrapped" && x.y === 0) ? o.segments : undefined)),
  );
  log(`bags: ${ds.train.length} examples, ${bags.rows.length} member texts`);
  const trainVec = sideVectors(f, bags.rows, "featurize train", o.quiet ?? false);
  // Weights: within a class, a direct example from a source of n examples weighs
  // n^-sourceBalance (0 = every example equal, 1 = every source equal), so one big
  // templated file (harmfulqa, GSM8K) does not define its class; template-wrapped
  // examples share wrappedShare of their class's weight. The classes carry equal
  // total weight (harmful times posWeight); the mean weight is 1.
  const perSource = new Map<string, number>();
  for (const x of ds.train) perSource.set(x.source, (perSource.get(x.source) ?? 0) + 1);
  const raw = ds.train.map((x) =>
    x.kind === "wrapped" ? 1 : Math.pow(perSource.get(x.source)!, -o.sourceBalance) * (o.sourceWeights[x.source] ?? 1),
  );
  const sums = { direct: [0, 0], wrapped: [0, 0] };
  ds.train.forEach((x, i) => (sums[x.kind][x.y] += raw[i]));
  const classTarget = [ds.train.length / (1 + o.posWeight), (ds.train.length * o.posWeight) / (1 + o.posWeight)];
  const examples: SparseExample[] = [];
  ds.train.forEach((x, i) => {
    const share = x.kind === "wrapped" ? o.wrappedShare : sums.wrapped[x.y] > 0 ? 1 - o.wrappedShare : 1;
    const weight = (raw[i] * share * classTarget[x.y]) / sums[x.kind][x.y];
    for (let r = bags.offsets[i]; r < bags.offsets[i + 1]; r++) examples.push({ ...trainVec.vectors[r], y: x.y, weight });
  });

  // The embedding head (see edge/classifier/embedding.ts), trained jointly with the n-gram weights.
  const head = o.dense ? new DenseHead(pooledFromWords(o.dense.wv, trainVec.words, o.dense.opts.sifA), o.dense.wv.dim, o.dense.opts) : undefined;

  const epochs = o.ftrl.epochs;
  const bar = o.quiet ? undefined : new Progress({ total: ds.train.length * epochs, label: "train" });
  const tTrain = performance.now();
  let reported = 0;
  const linear = trainFtrl(examples, o.features.dim, {
    ...o.ftrl,
    onProgress: (d) => {
      bar?.tick(d - reported);
      reported = d;
    },
    onEpoch: (e, loss) => log(`epoch ${e + 1}/${epochs} loss ${loss.toFixed(4)}`),
    dense: head,
    bags: bags.offsets,
  });
  bar?.finish();
  const trainSeconds = (performance.now() - tTrain) / 1000;

  // Validation through the shipped scorer (quantised weights, raw text).
  const embedding = head && o.dense ? head.toArtifact(o.dense.wv, GLOVE_SOURCE) : undefined;
  const provisionalArtifact = toArtifact(linear, o.features, 0.5, o.modelVersion, null, o.segments, embedding);
  const provisional = RiskModel.fromArtifact(provisionalArtifact);
  const scored = ds.val.map((x) => ({ ...x, s: provisional.scoreText(x.text) }));
  const pick = (pred: (x: (typeof scored)[number]) => boolean) => scored.filter(pred).map((x) => x.s);
  const valPos = pick((x) => x.y === 1);
  const valNeg = pick((x) => x.y === 0);
  const valNegDirect = pick((x) => x.y === 0 && x.kind === "direct");
  // The threshold's benign pool: ordinary instructions, not the hand-written hard cases.
  const valNegOrdinary = pick(o.thresholdPool ?? ORDINARY_BENIGN);
  const valNegContrast = pick((x) => x.y === 0 && /^augment\/contrast(-\d+)?-benign$/.test(x.source));
  const valPosDirect = pick((x) => x.y === 1 && x.kind === "direct");
  const valPosWrapped = pick((x) => x.y === 1 && x.kind === "wrapped");
  const valNegWrapped = pick((x) => x.y === 0 && x.kind === "wrapped");
  // Threshold: the lowest risk whose FPR on validation benign *instructions*
  // (unwrapped, from the files) is at most targetFpr; training-side data only.
  const threshold = thresholdForFpr(valNegOrdinary, o.targetFpr);
  const validation: ValidationMetrics = {
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
  const bySource: Record<string, string> = {};
  for (const src of [...new Set(scored.map((x) => x.source))].sort()) {
    const s = scored.filter((x) => x.source === src);
    bySource[src] = `${(rateAtOrAbove(s.map((x) => x.s), threshold) * 100).toFixed(1)}% flagged of ${s.length}`;
  }
  // (the threshold is the only difference: the weights are quantised once)
  const artifact: RiskArtifact = { ...provisionalArtifact, threshold };
  const model = RiskModel.fromArtifact(artifact);
  return { ds, artifact, model, threshold, validation, bySource, scored, trainSeconds };
}
