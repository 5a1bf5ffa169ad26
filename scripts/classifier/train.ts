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
import { DEFAULT_FEATURE_CONFIG, type FeatureConfig } from "../../edge/classifier/features.ts";
import { heldOutKeys, loadHeldOut } from "./data.ts";
import { DEFAULT_ARTIFACT, DEFAULT_DATA_DIR, REPO_ROOT } from "./paths.ts";
import { DEFAULT_FTRL } from "./train-lib.ts";
import { DEFAULT_DENSE } from "./dense-head.ts";
import { GLOVE_SOURCE, loadWordVectors } from "./glove.ts";
import { contrastSets, type AugmentRecord, type OptInSets } from "./augment.ts";
import { backgroundBooks, DEFAULT_BACKGROUND } from "./background.ts";
import { assembleTrainingData, DEFAULT_FIT, DEFAULT_SOURCE_WEIGHTS, fitClassifier, MODEL_VERSION } from "./fit.ts";


const HELP = `Usage: npm run train:classifier -- [options]

Trains the edge prompt-risk classifier (hashed char/word n-grams + logistic
regression, FTRL-Proximal) on the training-side files of ../shared/data and writes
the artifact. Held-out files are read only to remove overlapping prompts.

Options:
  --data DIR            data folder (default: <repo>/../shared/data)
  --out FILE            artifact path (default: edge/classifier/risk-model.v2.json)
  --seed N              seed for split, sampling and shuffling (default 42)
  --val-frac F          validation fraction of training-side prompts/templates (default ${DEFAULT_FIT.valFrac})
  --dim-log2 N          hash buckets = 2^N (default ${DEFAULT_FIT.dimLog2})
  --char-min N --char-max N   character n-gram range (default ${DEFAULT_FEATURE_CONFIG.charMin}-${DEFAULT_FEATURE_CONFIG.charMax})
  --no-bigrams          no word bigrams
  --drop-stopwords      drop function words before hashing (off: it lowered validation AUROC)
  --letter-runs N       cut runs of 3+ of one letter to N letters ("heyyy" -> "hey"; default ${DEFAULT_FEATURE_CONFIG.letterRuns}; 0 = off)
  --epochs N            FTRL epochs (default ${DEFAULT_FTRL.epochs})
  --alpha F --beta F --l1 F --l2 F   FTRL hyper-parameters (defaults ${DEFAULT_FTRL.alpha} ${DEFAULT_FTRL.beta} ${DEFAULT_FTRL.l1} ${DEFAULT_FTRL.l2})
  --no-field-augment    no harmless questions about harmfulqa's fields (augment.ts)
  --contrast FILE       hand-written contrast set (repeatable; default scripts/classifier/contrast-set.json
                        and contrast-set-2 to -5.json)
  --no-contrast         train without the contrast set
  --multi-turn-set      also train on contrast-set-6.json, 960 hand-written multi-turn conversations
                        (their user turns joined). Off by default: it raises multi-turn recall and
                        the false positives on benign conversations alike (model card).
                        train:encoder-probe and eval:condition read it from the artifact
  --system-prompt-set   also train on contrast-set-7.json, 750 hand-written operator system prompts
                        (benign ones naming the harms they refuse, harmful ones in the same words).
                        Off by default: it steers fewer benign system prompts but still most, for
                        lower direct and attack recall (model card, "System prompts"); the edge's
                        trusted system prompts are the fix (edge/config/README.md). Read from the
                        artifact as --multi-turn-set is
  --background-per-book N   benign prose passages from each public-domain book (background.ts;
                        default ${DEFAULT_BACKGROUND.perBook}; 0 = none)
  --bag-training        train each long example as a bag of the sentences the scorer takes its
                        max over (bags.ts), except benign template-wrapped ones (bagging those
                        teaches the model to ignore templates). Off by default: it lowers
                        over-refusal and capability-question flags, but recall too (model card)
  --embedding-vocab N   words of the GloVe embedding head (default ${DEFAULT_FIT.embeddingVocab}; 0 = n-grams only)
  --hidden N            hidden units of the embedding head (default ${DEFAULT_DENSE.hidden})
  --dense-lr F --dense-l2 F   Adam step and weight decay of the head (defaults ${DEFAULT_DENSE.lr} ${DEFAULT_DENSE.l2})
  --sif-a F             SIF word-weight constant a (default ${DEFAULT_DENSE.sifA})
  --pos-weight F        total weight of harmful relative to benign (default ${DEFAULT_FIT.posWeight})
  --source-balance P    example weight n_source^-P within its class (default ${DEFAULT_FIT.sourceBalance})
  --wrapped-share F     share of each class's weight on template-wrapped examples (default ${DEFAULT_FIT.wrappedShare})
  --segment-min-chars N also score sentences/lines of at least N chars, take the max (0 = off; default ${DEFAULT_FIT.segments.minChars})
  --segment-min-text N  ... only in texts of at least N chars (default ${DEFAULT_FIT.segments.minTextChars})
  --per-template-harmful N / --per-template-benign N   wrapped examples per template (default ${DEFAULT_FIT.perTemplateHarmful} / ${DEFAULT_FIT.perTemplateBenign})
  --target-fpr F        threshold = lowest with validation benign FPR <= F (default ${DEFAULT_FIT.targetFpr})
  --val-mode M           random (default; shipped) or shift: validate on whole unseen training-side
                        files (catqa, dangerousqa, alpaca_eval, self_instruct, vicuna, mt_bench) to
                        compare settings for transfer; implies --no-write
  --no-write            train and report, do not write the artifact
  --source-weight SRC=F multiply a source's weights by F (repeatable; e.g. red_instruct/harmfulqa=0.3)
  --dump-val FILE       write validation scores as JSONL (for error analysis)
  -h, --help            this help
`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      data: { type: "string", default: DEFAULT_DATA_DIR },
      out: { type: "string", default: DEFAULT_ARTIFACT },
      seed: { type: "string", default: "42" },
      "val-frac": { type: "string", default: String(DEFAULT_FIT.valFrac) },
      "dim-log2": { type: "string", default: String(DEFAULT_FIT.dimLog2) },
      "char-min": { type: "string", default: String(DEFAULT_FEATURE_CONFIG.charMin) },
      "char-max": { type: "string", default: String(DEFAULT_FEATURE_CONFIG.charMax) },
      "no-bigrams": { type: "boolean", default: false },
      "drop-stopwords": { type: "boolean", default: false },
      "letter-runs": { type: "string", default: String(DEFAULT_FEATURE_CONFIG.letterRuns) },
      epochs: { type: "string", default: String(DEFAULT_FTRL.epochs) },
      alpha: { type: "string", default: String(DEFAULT_FTRL.alpha) },
      beta: { type: "string", default: String(DEFAULT_FTRL.beta) },
      l1: { type: "string", default: String(DEFAULT_FTRL.l1) },
      l2: { type: "string", default: String(DEFAULT_FTRL.l2) },
      "pos-weight": { type: "string", default: String(DEFAULT_FIT.posWeight) },
      "embedding-vocab": { type: "string", default: String(DEFAULT_FIT.embeddingVocab) },
      "no-field-augment": { type: "boolean", default: false },
      contrast: { type: "string", multiple: true },
      "no-contrast": { type: "boolean", default: false },
      "multi-turn-set": { type: "boolean", default: false },
      "system-prompt-set": { type: "boolean", default: false },
      "background-per-book": { type: "string", default: String(DEFAULT_BACKGROUND.perBook) },
      "bag-training": { type: "boolean", default: false },
      hidden: { type: "string", default: String(DEFAULT_DENSE.hidden) },
      "dense-lr": { type: "string", default: String(DEFAULT_DENSE.lr) },
      "dense-l2": { type: "string", default: String(DEFAULT_DENSE.l2) },
      "sif-a": { type: "string", default: String(DEFAULT_DENSE.sifA) },
      "source-balance": { type: "string", default: String(DEFAULT_FIT.sourceBalance) },
      "wrapped-share": { type: "string", default: String(DEFAULT_FIT.wrappedShare) },
      "segment-min-chars": { type: "string", default: String(DEFAULT_FIT.segments.minChars) },
      "segment-min-text": { type: "string", default: String(DEFAULT_FIT.segments.minTextChars) },
      "per-template-harmful": { type: "string", default: String(DEFAULT_FIT.perTemplateHarmful) },
      "per-template-benign": { type: "string", default: String(DEFAULT_FIT.perTemplateBenign) },
      "target-fpr": { type: "string", default: String(DEFAULT_FIT.targetFpr) },
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
    letterRuns: num("letter-runs"),
  };
  const ftrl = { alpha: num("alpha"), beta: num("beta"), l1: num("l1"), l2: num("l2"), epochs: num("epochs"), seed };
  const targetFpr = num("target-fpr");
  const segMin = num("segment-min-chars");
  const segments = segMin > 0 ? { minTextChars: num("segment-min-text"), minChars: segMin, maxSegments: DEFAULT_FIT.segments.maxSegments } : undefined;
  const posWeight = num("pos-weight");

  const optIn: OptInSets = { multiTurn: values["multi-turn-set"]!, systemPrompts: values["system-prompt-set"]! };
  // The probe trainer rebuilds the split from the shipped sets and these flags (optInSetsOf), so a custom list cannot go with them.
  for (const [flag, on] of [["--multi-turn-set", optIn.multiTurn], ["--system-prompt-set", optIn.systemPrompts]] as const) {
    if (on && (values["no-contrast"] || values.contrast)) throw new Error(`${flag} adds to the shipped contrast sets: it cannot go with --contrast or --no-contrast`);
  }
  console.error(`loading ${dataDir}`);
  const perBook = num("background-per-book");
  const data = assembleTrainingData(dataDir, {
    fieldAugment: !values["no-field-augment"],
    contrastFiles: values["no-contrast"] ? [] : (values.contrast?.map((f) => resolve(process.cwd(), f)) ?? contrastSets(optIn)),
    backgroundPerBook: perBook,
    seed,
  });
  const held = heldOutKeys(loadHeldOut(dataDir));
  const sourceWeights: Record<string, number> = { ...DEFAULT_SOURCE_WEIGHTS };
  for (const kv of values["source-weight"] ?? []) {
    const [k, v] = kv.split("=");
    if (!k || !Number.isFinite(Number(v))) throw new Error(`--source-weight wants SRC=F, got ${kv}`);
    sourceWeights[k] = Number(v);
  }

  // The embedding head's word vectors.
  const vocab = num("embedding-vocab");
  const wv = vocab > 0 ? loadWordVectors(vocab, features) : undefined;
  if (wv) console.error(`word vectors: ${wv.words.length} words x ${wv.dim} (${GLOVE_SOURCE})`);
  const dense = { ...DEFAULT_DENSE, hidden: num("hidden"), lr: num("dense-lr"), l2: num("dense-l2"), sifA: num("sif-a"), seed };
  const sourceBalance = num("source-balance");
  const wrappedShare = num("wrapped-share");

  const fit = fitClassifier(data, held, {
    features,
    ftrl,
    build: {
      seed,
      valFrac: num("val-frac"),
      perTemplateHarmful: num("per-template-harmful"),
      perTemplateBenign: num("per-template-benign"),
      valMode: values["val-mode"] === "shift" ? "shift" : "random",
    },
    dense: wv ? { opts: dense, wv } : undefined,
    segments,
    posWeight,
    sourceBalance,
    wrappedShare,
    sourceWeights,
    bagTraining: values["bag-training"]!,
    targetFpr,
    modelVersion: MODEL_VERSION,
  });
  const { ds, threshold, trainSeconds } = fit;
  const valMetrics = fit.validation;
  if (values["dump-val"]) {
    writeFileSync(resolve(process.cwd(), values["dump-val"]), fit.scored.map((x) => JSON.stringify({ s: x.s, y: x.y, source: x.source, text: x.text.slice(0, 300) })).join("\n") + "\n");
  }
  console.error("validation:", JSON.stringify(valMetrics, null, 1));
  console.error("validation by source:", JSON.stringify(fit.bySource, null, 1));

  const training = {
    seed,
    modelVersion: MODEL_VERSION,
    ftrl: { alpha: ftrl.alpha, beta: ftrl.beta, l1: ftrl.l1, l2: ftrl.l2, epochs: ftrl.epochs },
    embeddingHead: wv ? { vocab: wv.words.length, hidden: dense.hidden, lr: dense.lr, l2: dense.l2, sifA: dense.sifA, batch: dense.batch } : null,
    augment: {
      harmfulqaFields: !values["no-field-augment"],
      contrastSet: !values["no-contrast"],
      multiTurnSet: optIn.multiTurn,
      systemPromptSet: optIn.systemPrompts,
      background: perBook > 0 ? { perBook, longShare: DEFAULT_BACKGROUND.longShare, books: backgroundBooks() } : null,
    } satisfies AugmentRecord,
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
  const artifact = { ...fit.artifact, training };
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
