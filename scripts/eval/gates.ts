/**
 * Gate variants for the selective arm: a gate reads a prompt (the whole
 * conversation) and says whether to steer it. Each variant is one set of
 * rows in the report (selective @ every strength), with its routed fraction,
 * the share each stage decided and the latency the gate adds per prompt.
 *
 * - edge: the edge's prompt-risk classifier (first stage) at its shipped
 *   threshold, what production routes with by default.
 * - edge+encoder: the edge's own two-stage gate (edge/risk RiskScorer.assess):
 *   the classifier, then the universal-sentence-encoder probe
 *   (edge/risk/second-stage.ts, edge/encoder) inside its uncertain band.
 * - edge+condition: the third route (condition-gate.ts): first-stage risk at or
 *   above the band steered, below it not, inside it steered iff the
 *   profile's in-model condition holds.
 * - all: the two-stage gate's risk, then the band on it, then the condition.
 *
 * A variant that cannot be built says why (buildGates throws); there is no
 * stand-in. `decide` is timed by the runner (added latency), `hash`
 * identifies what a decision depends on (cache lines are reused only for the
 * same hash), `close` releases what it opened.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { RiskModel } from "../../edge/classifier/model.ts";
import { loadRiskScorer, type RiskScorer } from "../../edge/risk/index.ts";
import { DEFAULT_PROBE_URL } from "../../edge/risk/second-stage.ts";
import { ConditionScorer } from "../find-features/condition-scorer.ts";
import { conditionOf, DEFAULT_CONDITION_BANDS, routeBanded, type Band, type GateStage } from "./condition-gate.ts";
import type { ChatMessage } from "./suites/types.ts";

export interface GateDecision {
  steer: boolean;
  /** The gate's score, when it has one (the classifier's risk; after the encoder stage, its combined risk). */
  risk?: number;
  /** The stage that decided. */
  stage?: GateStage;
  /** The in-model condition's value, when the condition decided. */
  value?: number;
}

export interface Gate {
  readonly name: string;
  /** sha256 (or other stable id) of what the gate decides with. */
  readonly hash: string;
  /**
   * `messages`: the request as the client sent it, which the classifier stages
   * read; `prefilled`: what the model prefills when that is less (a request cut
   * to fit the offline model's context), which the in-model condition reads.
   */
  decide(messages: ChatMessage[], prefilled?: ChatMessage[]): GateDecision | Promise<GateDecision>;
  close?(): Promise<void>;
}

/** What a variant may build its gate from. */
export interface GateDeps {
  classifier: RiskModel;
  classifierHash: string;
  /** The built model directory and steering profile the run uses (for model-side stages). */
  modelDir: string;
  profile: string;
  /** Token ids the sidecar prefills for a conversation (the engine's promptIds): the condition reads their last token. */
  promptIds(messages: ChatMessage[]): number[];
  /** The condition variants' band (default DEFAULT_CONDITION_BANDS, per variant). */
  conditionBand?: Band;
  log?: (m: string) => void;
}

export interface GateVariant {
  name: string;
  stages: readonly string[];
  description: string;
  build?: (deps: GateDeps) => Promise<Gate>;
  /** Why the variant cannot run yet (no build). */
  missing?: string;
  /** The variant's band on its risk, where the condition decides (condition variants). */
  band?: (deps: Pick<GateDeps, "conditionBand">) => Band;
  /** What its latency measures, when that is not what production pays. */
  latencyNote?: string;
}

/** The edge classifier as a gate. */
export function edgeGate(classifier: RiskModel, hash: string): Gate {
  return {
    name: "edge",
    hash,
    decide: (messages) => {
      const r = classifier.classify(messages);
      return { steer: r.risky, risk: r.risk, stage: "edge" };
    },
  };
}

const sha256 = (...parts: (string | Buffer)[]) => {
  const h = createHash("sha256");
  for (const p of parts) h.update(p).update("\0");
  return h.digest("hex");
};

/** The edge's two-stage scorer (classifier + encoder probe), or an error saying why the second stage did not load. */
async function twoStageScorer(log?: (m: string) => void): Promise<{ scorer: RiskScorer; hash: string }> {
  const warnings: string[] = [];
  const scorer = await loadRiskScorer({ secondStage: true, warn: (m) => warnings.push(m) });
  if (!scorer.source.includes("encoder probe")) throw new Error(`the encoder stage did not load: ${warnings.join("; ") || scorer.source}`);
  for (const w of warnings) log?.(w);
  return { scorer, hash: sha256(readFileSync(DEFAULT_PROBE_URL)) };
}

const asStage = (s: string): GateStage => (s === "encoder" ? "encoder" : "edge");

/** The edge's own gate: RiskScorer.assess, the classifier then the encoder probe inside its band. */
export async function edgeEncoderGate(d: GateDeps): Promise<Gate> {
  const { scorer, hash } = await twoStageScorer(d.log);
  return {
    name: "edge+encoder",
    hash: sha256(d.classifierHash, hash),
    decide: async (messages) => {
      const r = await scorer.assess(messages);
      return { steer: r.risky, risk: r.risk, stage: asStage(r.stage) };
    },
  };
}

const bandOf = (name: "edge+condition" | "all") => (d: Pick<GateDeps, "conditionBand">): Band => d.conditionBand ?? DEFAULT_CONDITION_BANDS[name];

/** edge+condition: the first stage's risk, the band on it, the condition inside it. */
export async function edgeConditionGate(d: GateDeps): Promise<Gate> {
  const band = bandOf("edge+condition")(d);
  const cond = await ConditionScorer.load(d.modelDir, d.profile, d.log);
  const value = conditionOf(cond, d.promptIds);
  return {
    name: "edge+condition",
    hash: sha256(d.classifierHash, cond.hash, JSON.stringify(band)),
    decide: async (messages, prefilled = messages) => {
      const r = d.classifier.classify(messages);
      return { ...(await routeBanded({ ...r, stage: "edge" }, band, () => value(prefilled))), risk: r.risk };
    },
    close: () => cond.release(),
  };
}

/** all: the two-stage gate's risk, the band on it, the condition inside it. */
export async function allStagesGate(d: GateDeps): Promise<Gate> {
  const band = bandOf("all")(d);
  const { scorer, hash } = await twoStageScorer(d.log);
  const cond = await ConditionScorer.load(d.modelDir, d.profile, d.log);
  const value = conditionOf(cond, d.promptIds);
  return {
    name: "all",
    hash: sha256(d.classifierHash, hash, cond.hash, JSON.stringify(band)),
    decide: async (messages, prefilled = messages) => {
      const r = await scorer.assess(messages);
      return { ...(await routeBanded({ risk: r.risk, risky: r.risky, stage: asStage(r.stage) }, band, () => value(prefilled))), risk: r.risk };
    },
    close: () => cond.release(),
  };
}

const CONDITION_LATENCY =
  "in-band prompts pay a forward pass of their own here (in-process, the residual-output build); in the sidecar the condition rides the prefill the request makes anyway";

/**
 * The selective arm's gate when --gates is left out, and the one whose rows are
 * labelled plain "selective": the edge's own default, both classifier stages
 * (config classifier.second_stage, on by default).
 */
export const DEFAULT_GATE = "edge+encoder";

export const GATE_VARIANTS: readonly GateVariant[] = [
  { name: "edge", stages: ["edge"], description: "edge prompt-risk classifier at its shipped threshold", build: async (d) => edgeGate(d.classifier, d.classifierHash) },
  {
    name: "edge+encoder",
    stages: ["edge", "encoder"],
    description: "the edge's two-stage gate: classifier, then the universal-sentence-encoder probe inside its uncertain band (RiskScorer.assess)",
    build: edgeEncoderGate,
  },
  {
    name: "edge+condition",
    stages: ["edge", "condition"],
    description: "edge classifier; risk in the band: steered iff the profile's in-model condition holds (conditional steering); above it steered, below it not",
    build: edgeConditionGate,
    band: bandOf("edge+condition"),
    latencyNote: CONDITION_LATENCY,
  },
  {
    name: "all",
    stages: ["edge", "encoder", "condition"],
    description: "the two-stage gate (classifier + encoder probe); its risk in the band: steered iff the in-model condition holds",
    build: allStagesGate,
    band: bandOf("all"),
    latencyNote: CONDITION_LATENCY,
  },
];

export const GATE_NAMES = GATE_VARIANTS.map((g) => g.name);

/** Builds the named variants; an unknown or missing one is an error naming why. */
export async function buildGates(names: readonly string[], deps: GateDeps): Promise<Map<string, Gate>> {
  const out = new Map<string, Gate>();
  try {
    for (const n of names) {
      const v = GATE_VARIANTS.find((g) => g.name === n);
      if (!v) throw new Error(`unknown gate variant "${n}" (known: ${GATE_NAMES.join(", ")})`);
      if (!v.build) throw new Error(`gate variant "${n}" cannot run: ${v.missing}`);
      out.set(n, await v.build(deps));
    }
  } catch (e) {
    for (const g of out.values()) await g.close?.();
    throw e;
  }
  return out;
}
