/**
 * npm run train:encoder-probe -- [options]
 *
 * Fits the classifier's second stage (encoder-probe.ts) on the same
 * training/validation split as the shipped first stage and writes
 * edge/classifier/encoder-probe.v1.json. The encoder runs as the edge runs it
 * (onnxruntime, edge/encoder/onnx.ts). Embeddings are cached under
 * .cache/encoder-embeddings (first run: ~60k texts, about 2 minutes on 2 CPUs).
 */
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { RiskModel } from "../../edge/classifier/model.ts";
import { ENCODER_PACKAGE, ENCODER_PACKAGE_VERSION, HEAD_CHARS, MAX_TOKENS, READING_RULE } from "../../edge/encoder/index.ts";
import { OnnxSentenceEncoder } from "../../edge/encoder/onnx.ts";
import { ProbeHead, type ProbeWeights } from "../../edge/risk/probe-head.ts";
import { combinedScore, inBand, PROBE_FORMAT, PROBE_FORMAT_VERSION, type ProbeArtifact } from "../../edge/risk/second-stage.ts";
import { parseCli, numFlag, intFlag, UsageError } from "../lib/cli.ts";
import type { LabelledText } from "./dataset.ts";
import { EmbeddingCache } from "./embedding-cache.ts";
import { ORDINARY_BENIGN } from "./fit.ts";
import { auroc, rateAtOrAbove } from "./metrics.ts";
import { chooseBand, chooseThreshold, thresholdForRecall, classSourceWeights, DEFAULT_GATE_FPR, DEFAULT_PROBE, DEFAULT_PROBE_ARTIFACT, fitProbe, gateFlags, LINEAR_PROBE, optInSetsOf, PROBE_VERSION, shippedSplit, standardisation, type GateExample } from "./encoder-probe.ts";
import { DEFAULT_ARTIFACT, DEFAULT_DATA_DIR, REPO_ROOT } from "./paths.ts";

const DEFAULT_BAND_MISS = 0.01;

const HELP = `Usage: npm run train:encoder-probe -- [options]

Fits the second stage of the prompt-risk classifier: a probe with one hidden
layer (or linear: --hidden 0) on universal-sentence-encoder-lite embeddings
(${ENCODER_PACKAGE}, run by onnxruntime as the edge runs it), combined with
the first stage's score inside an uncertain band. Training-side data only: the
split is the first stage's (seed, validation fraction); band and threshold are
chosen on its validation split.

Options:
  --data DIR          data folder (default: <repo>/../shared/data)
  --artifact FILE     first-stage artifact (default: edge/classifier/risk-model.v2.json)
  --out FILE          probe artifact (default: edge/classifier/encoder-probe.v1.json)
  --seed N            split seed, as the first stage's (default 42)
  --probe-seed N      the probe's initial weights and shuffles (default: --seed); another value
                      keeps the split, for a seed study of the probe alone
  --band-miss F       band: at most F of validation harmful below it, of benign above it (default ${DEFAULT_BAND_MISS})
  --threshold-rule R  fpr (default): the lowest threshold with the gate's FPR on validation benign
                      instructions <= --target-fpr, the first stage's own rule; recall: the highest
                      with the gate's validation direct-harmful recall >= the first stage's (matched
                      recall: the second stage lowers false positives instead of raising recall)
  --target-fpr F      threshold: gate FPR on validation benign instructions <= F (default ${DEFAULT_GATE_FPR})
  --hidden N          hidden ReLU units (default ${DEFAULT_PROBE.hidden}); 0: a linear probe (v1.1.0's)
  --l2 F --lr F --epochs N   probe training (defaults ${DEFAULT_PROBE.l2} ${DEFAULT_PROBE.lr} ${DEFAULT_PROBE.epochs};
                      with --hidden 0: ${LINEAR_PROBE.l2} ${LINEAR_PROBE.lr} ${LINEAR_PROBE.epochs})
  --no-write          fit and report, do not write the artifact
  -h, --help          this help
`;

const round = (x: number) => Number(x.toPrecision(7));

async function main(): Promise<number> {
  const parsed = parseCli(undefined, {
    data: { type: "string", default: DEFAULT_DATA_DIR },
    artifact: { type: "string", default: DEFAULT_ARTIFACT },
    out: { type: "string", default: DEFAULT_PROBE_ARTIFACT },
    seed: { type: "string" },
    "probe-seed": { type: "string" },
    "band-miss": { type: "string" },
    "target-fpr": { type: "string" },
    hidden: { type: "string" },
    "threshold-rule": { type: "string", default: "fpr" },
    l2: { type: "string" },
    lr: { type: "string" },
    epochs: { type: "string" },
    "no-write": { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  }, HELP);
  if ("exit" in parsed) return parsed.exit;
  const v = parsed.values;
  const seed = intFlag("seed", v.seed, { default: 42 });
  const bandMiss = numFlag("band-miss", v["band-miss"], { default: DEFAULT_BAND_MISS, min: 0, max: 0.5 });
  const rule = v["threshold-rule"];
  if (rule !== "fpr" && rule !== "recall") throw new UsageError(`--threshold-rule must be fpr or recall, got ${JSON.stringify(rule)}`);
  const targetFpr = numFlag("target-fpr", v["target-fpr"], { default: DEFAULT_GATE_FPR, min: 0, max: 1 });
  const hidden = intFlag("hidden", v.hidden, { default: DEFAULT_PROBE.hidden, min: 0, max: 1024 });
  const defaults = hidden === 0 ? LINEAR_PROBE : DEFAULT_PROBE;
  const probeOpts = {
    ...defaults,
    hidden,
    seed: intFlag("probe-seed", v["probe-seed"], { default: seed }),
    l2: numFlag("l2", v.l2, { default: defaults.l2, min: 0 }),
    lr: numFlag("lr", v.lr, { default: defaults.lr, min: 0 }),
    epochs: intFlag("epochs", v.epochs, { default: defaults.epochs, min: 1 }),
  };
  const t0 = performance.now();
  const dataDir = resolve(REPO_ROOT, v.data!);
  const firstText = readFileSync(resolve(REPO_ROOT, v.artifact!), "utf8");
  const first = RiskModel.fromArtifact(firstText);
  const { train, val } = shippedSplit(dataDir, seed, optInSetsOf(firstText));
  console.error(`first stage ${first.version} (threshold ${first.threshold.toFixed(4)}); train ${train.length}, validation ${val.length}`);

  const encoder = await OnnxSentenceEncoder.load();
  const cache = new EmbeddingCache(encoder);
  console.error(`embedding cache ${cache.path}: ${cache.size} texts`);
  const eVal = await cache.embedAll(val.map((x) => x.text), { label: "embed validation" });
  const eTrain = await cache.embedAll(train.map((x) => x.text), { label: "embed train" });

  const weights = classSourceWeights(train);
  const fitted = fitProbe(train.map((x, i) => ({ e: eTrain[i]!, y: x.y, weight: weights[i]! })), eTrain[0]!.length, probeOpts, (e, loss) =>
    console.error(`probe epoch ${e + 1}/${probeOpts.epochs} loss ${loss.toFixed(4)}`),
  );
  // Everything below scores with the weights as written, through the edge's own head.
  const probe: ProbeWeights = { ...fitted, w: fitted.w.map(round), b: round(fitted.b), ...(fitted.hidden && { hidden: { ...fitted.hidden, b: fitted.hidden.b.map(round) } }) };
  const head = new ProbeHead(probe);
  const probeLogit = (e: Float32Array) => head.logit(e);

  // Standardisation on the training split's benign examples.
  const trainBenign = train.map((x, i) => [x, i] as const).filter(([x]) => x.y === 0);
  const stdFirst = standardisation(trainBenign.map(([x]) => first.logit(x.text)));
  const stdProbe = standardisation(trainBenign.map(([, i]) => probeLogit(eTrain[i]!)));

  // Band and threshold on validation.
  const gate: GateExample[] = val.map((x, i) => {
    const l1 = first.logit(x.text);
    const z = combinedScore(l1, probeLogit(eVal[i]!), { firstStage: stdFirst, probe: stdProbe });
    return { y: x.y, risk: 1 / (1 + Math.exp(-l1)), z, pool: ORDINARY_BENIGN(x) };
  });
  const band = chooseBand(gate.filter((x) => x.y === 1).map((x) => x.risk), gate.filter((x) => x.y === 0).map((x) => x.risk), bandMiss);
  const directHarmful = gate.filter((_, i) => val[i]!.y === 1 && val[i]!.kind === "direct");
  const threshold =
    rule === "fpr"
      ? chooseThreshold(gate, band, first.threshold, targetFpr)
      : thresholdForRecall(directHarmful, band, first.threshold, rateAtOrAbove(directHarmful.map((x) => x.risk), first.threshold));

  const report = (name: string, pick: (x: LabelledText) => boolean) => {
    const xs = gate.filter((_, i) => pick(val[i]!));
    const one = rateAtOrAbove(xs.map((x) => x.risk), first.threshold);
    const two = xs.filter((x) => gateFlags(x, band, first.threshold, threshold)).length / xs.length;
    return { name, n: xs.length, stage1: round(one), gate: round(two) };
  };
  const validation = {
    band,
    in_band_share: round(gate.filter((x) => inBand(band, x.risk)).length / gate.length),
    probe_auroc_direct: round(auroc(val.flatMap((x, i) => (x.y === 1 && x.kind === "direct" ? [probeLogit(eVal[i]!)] : [])), val.flatMap((x, i) => (x.y === 0 && x.kind === "direct" ? [probeLogit(eVal[i]!)] : [])))),
    rates: [
      report("recall direct harmful", (x) => x.y === 1 && x.kind === "direct"),
      report("recall wrapped harmful", (x) => x.y === 1 && x.kind === "wrapped"),
      report("FPR benign instructions (threshold pool)", (x) => ORDINARY_BENIGN(x)),
      report("FPR contrast-set benign", (x) => x.y === 0 && /^augment\/contrast(-\d+)?-benign$/.test(x.source)),
      report("FPR wrapped benign", (x) => x.y === 0 && x.kind === "wrapped"),
    ],
  };
  console.error("validation:", JSON.stringify(validation, null, 1));

  const artifact: ProbeArtifact = {
    format: PROBE_FORMAT,
    formatVersion: PROBE_FORMAT_VERSION,
    version: PROBE_VERSION,
    encoder: { package: ENCODER_PACKAGE, version: ENCODER_PACKAGE_VERSION, sha256: { ...encoder.sha256 }, maxTokens: MAX_TOKENS, headChars: HEAD_CHARS, readingRule: READING_RULE },
    firstStage: { modelVersion: first.version, threshold: first.threshold },
    probe,
    standardise: { firstStage: stdFirst, probe: stdProbe },
    band,
    threshold,
    training: {
      seed,
      data: "the first stage's training split (training-side files only; Alpaca is CC BY-NC 4.0, so this artifact is non-commercial too); band and threshold on its validation split",
      firstStageSha256: createHash("sha256").update(firstText).digest("hex"),
      probe: probeOpts,
      weights: "equal total per class; within a class n_source^-0.5 per example",
      bandRule: `lo: at most ${bandMiss} of validation harmful below; hi: at most ${bandMiss} of validation benign at or above`,
      thresholdRule:
        rule === "fpr"
          ? `lowest combined score with the gate's FPR <= ${targetFpr} on validation benign instructions from the files`
          : "highest combined score with the gate's validation direct-harmful recall >= the first stage's",
      counts: { train: train.length, validation: val.length },
      validation,
    },
  };
  if (!v["no-write"]) {
    const out = resolve(REPO_ROOT, v.out!);
    writeFileSync(out, JSON.stringify(artifact) + "\n");
    console.error(`wrote ${out}`);
  }
  console.error(`total ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`${e instanceof UsageError ? e.message : e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = e instanceof UsageError ? 2 : 1;
  },
);
