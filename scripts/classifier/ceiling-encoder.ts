/**
 * npm run ceiling:encoder -- [--folds K] [--seeds N] [--data DIR] [--probe FILE]
 *
 * A diagnostic, as ceiling:classifier is for the first stage: can the second
 * stage's sentence encoder (universal-sentence-encoder-lite, as the edge runs
 * it) tell XSTest's safe prompts from their unsafe twins at all? It embeds
 * XSTest's 450 prompts, then fits the probe's two forms (logistic regression
 * and the shipped 64-unit hidden layer) on XSTest alone, K-1 folds at a time,
 * and scores the remaining fold. Out-of-fold figures far above the shipped
 * probe's mean the encoder can draw XSTest's line and training data would
 * help; figures close to them mean the encoder's space itself does not
 * separate the pairs. Writes nothing.
 */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { OnnxSentenceEncoder } from "../../edge/encoder/onnx.ts";
import { ProbeHead } from "../../edge/risk/probe-head.ts";
import { parseProbeArtifact } from "../../edge/risk/second-stage.ts";
import { intFlag, parseCli, reportMain } from "../lib/cli.ts";
import { parseCsvObjects } from "./csv.ts";
import { EmbeddingCache } from "./embedding-cache.ts";
import { DEFAULT_PROBE, DEFAULT_PROBE_ARTIFACT, fitProbe, LINEAR_PROBE, type ProbeOptions } from "./encoder-probe.ts";
import { auroc, quantile } from "./metrics.ts";
import { DEFAULT_DATA_DIR, REPO_ROOT } from "./paths.ts";
import { mulberry32 } from "./train-lib.ts";

const HELP = `Usage: npm run ceiling:encoder -- [options]

Diagnostic: fits the second-stage probe (linear, and 64 hidden units as shipped)
on XSTest's own prompts, K-1 folds at a time, over the edge's sentence encoder,
and prints the out-of-fold AUROC of unsafe vs safe and the share of safe prompts
flagged at 90% unsafe recall, beside the shipped probe's (which never saw XSTest).
It tells whether the encoder can separate XSTest's pairs given in-domain data.
About a minute on 2 CPUs; writes nothing.

Options:
  --data DIR     data folder (default: <repo>/../shared/data)
  --probe FILE   the shipped probe artifact (default: edge/classifier/encoder-probe.v1.json)
  --folds K      folds, at least 2 (default 5)
  --seeds N      fold splits (and probe starts) to average over, at least 1 (default 3)
  --limit N      only N prompts, evenly spaced through the file (a quick check; default all)
  -h, --help     this help
`;

/** The in-domain fits see a few hundred prompts, not the probe's 59,000: this many times its epochs. */
const EPOCH_SCALE = 4;
/** The recall at which the share of safe prompts flagged is read. */
const RECALL = 0.9;

export interface Options {
  data: string;
  probe: string;
  folds: number;
  seeds: number;
  limit: number | undefined;
}

export interface Separation {
  /** AUROC, unsafe (positive) vs safe */
  auroc: number;
  /** share of safe prompts at or above the score that keeps RECALL of the unsafe ones */
  safeFlagged: number;
}

/** How well `scores` separate label 1 from label 0. */
export function separation(scores: readonly number[], y: readonly (0 | 1)[]): Separation {
  const pos = scores.filter((_, i) => y[i] === 1);
  const neg = scores.filter((_, i) => y[i] === 0);
  const t = quantile(pos, 1 - RECALL);
  return { auroc: auroc(pos, neg), safeFlagged: neg.filter((s) => s >= t).length / neg.length };
}

/** Out-of-fold logits: `folds` seeded folds, a probe of `opts` fitted on the others for each. */
export function outOfFold(embs: readonly Float32Array[], y: readonly (0 | 1)[], folds: number, seed: number, opts: ProbeOptions): number[] {
  const rng = mulberry32(seed);
  const fold = embs.map(() => Math.floor(rng() * folds));
  const dim = embs[0]!.length;
  const out = new Array<number>(embs.length).fill(NaN);
  for (let f = 0; f < folds; f++) {
    const train = embs.flatMap((e, i) => (fold[i] !== f ? [{ e, y: y[i]!, weight: 1 }] : []));
    if (train.length === 0 || train.length === embs.length) continue;
    const head = new ProbeHead(fitProbe(train, dim, { ...opts, seed, epochs: opts.epochs * EPOCH_SCALE }));
    embs.forEach((e, i) => {
      if (fold[i] === f) out[i] = head.logit(e);
    });
  }
  return out;
}

function parse(argv?: string[]): Options | { exit: number } {
  const parsed = parseCli(argv, {
    data: { type: "string", default: DEFAULT_DATA_DIR },
    probe: { type: "string", default: DEFAULT_PROBE_ARTIFACT },
    folds: { type: "string" },
    seeds: { type: "string" },
    limit: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  }, HELP, { prefix: "ceiling:encoder: " });
  if ("exit" in parsed) return parsed;
  const v = parsed.values;
  return {
    data: resolve(REPO_ROOT, v.data!),
    probe: resolve(process.cwd(), v.probe!),
    folds: intFlag("folds", v.folds, { min: 2, default: 5 }),
    seeds: intFlag("seeds", v.seeds, { min: 1, default: 3 }),
    limit: intFlag("limit", v.limit, { min: 10 }),
  };
}

const row = (name: string, s: Separation) => `${name.padEnd(44)} ${s.auroc.toFixed(3)}   ${s.safeFlagged.toFixed(3)}`;

async function report(o: Options): Promise<string> {
  const all = parseCsvObjects(readFileSync(join(o.data, "xstest/xstest_prompts.csv"), "utf8"));
  // The file runs type by type, safe before unsafe: a limit takes every k-th row, so both are in.
  const step = o.limit === undefined ? 1 : Math.max(1, Math.floor(all.length / o.limit));
  const rows = all.filter((_, i) => i % step === 0).slice(0, o.limit);
  const texts = rows.map((r) => r.prompt!);
  const y = rows.map((r) => (r.label === "unsafe" ? 1 : 0) as 0 | 1);
  const shipped = parseProbeArtifact(readFileSync(o.probe, "utf8"));
  const encoder = await OnnxSentenceEncoder.load();
  const embs = await new EmbeddingCache(encoder, undefined).embedAll(texts, { label: "embed XSTest" });
  const lines = [
    `XSTest: ${y.filter((v) => v === 1).length} unsafe, ${y.filter((v) => v === 0).length} safe prompts; ${o.folds} folds; ${o.seeds} seed${o.seeds > 1 ? "s" : ""}`,
    `${"probe".padEnd(44)} AUROC   safe flagged at ${RECALL * 100}% unsafe recall`,
    row("shipped probe (trained without XSTest)", separation(embs.map((e) => shipped.probeLogit(e)), y)),
  ];
  for (const [name, opts] of [["linear, in-domain", LINEAR_PROBE], [`${DEFAULT_PROBE.hidden} units, in-domain`, DEFAULT_PROBE]] as const) {
    const runs = Array.from({ length: o.seeds }, (_, s) => separation(outOfFold(embs, y, o.folds, s + 1, opts), y));
    runs.forEach((r, s) => lines.push(row(`${name}, seed ${s + 1}`, r)));
  }
  return lines.join("\n") + "\n";
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) {
  process.exitCode = await reportMain("ceiling:encoder", HELP, () => parse(), report);
}
