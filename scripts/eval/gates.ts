/**
 * Gate variants for the selective arm: a gate reads a prompt (the whole
 * conversation) and says whether to steer it. Each variant is one set of
 * rows in the report (selective @ every strength), with its routed fraction
 * and the latency the gate adds per prompt.
 *
 * Today only "edge" is built: the edge's prompt-risk classifier at its shipped
 * threshold (what production routes with). The other variants are declared
 * with why they are missing; asking for one is a usage error, never a stand-in.
 * To plug one in, give its entry a `build` that returns a Gate: `decide` is
 * timed by the runner (added latency), `hash` identifies its artefacts (cache
 * lines are reused only for the same hash), `close` releases what it opened.
 */
import type { RiskModel } from "../../edge/classifier/model.ts";
import type { ChatMessage } from "./suites/types.ts";

export interface GateDecision {
  steer: boolean;
  /** The gate's score, when it has one (the classifier's risk). */
  risk?: number;
}

export interface Gate {
  readonly name: string;
  /** sha256 (or other stable id) of what the gate decides with. */
  readonly hash: string;
  decide(messages: ChatMessage[]): GateDecision | Promise<GateDecision>;
  close?(): Promise<void>;
}

/** What a variant may build its gate from. */
export interface GateDeps {
  classifier: RiskModel;
  classifierHash: string;
  /** The built model directory and steering profile the run uses (for model-side stages). */
  modelDir: string;
  profile: string;
}

export interface GateVariant {
  name: string;
  stages: readonly string[];
  description: string;
  build?: (deps: GateDeps) => Promise<Gate>;
  /** Why the variant cannot run yet (no build). */
  missing?: string;
}

/** The edge classifier as a gate. */
export function edgeGate(classifier: RiskModel, hash: string): Gate {
  return {
    name: "edge",
    hash,
    decide: (messages) => {
      const r = classifier.classify(messages);
      return { steer: r.risky, risk: r.risk };
    },
  };
}

export const DEFAULT_GATE = "edge";

export const GATE_VARIANTS: readonly GateVariant[] = [
  { name: "edge", stages: ["edge"], description: "edge prompt-risk classifier at its shipped threshold", build: async (d) => edgeGate(d.classifier, d.classifierHash) },
  { name: "edge+encoder", stages: ["edge", "encoder"], description: "edge classifier, then the sidecar's SAE-encoder stage", missing: "the encoder stage is not built yet (issue 16)" },
  { name: "edge+condition", stages: ["edge", "condition"], description: "edge classifier, then the conditional-steering stage", missing: "the condition stage is not built yet (issue 16)" },
  { name: "all", stages: ["edge", "encoder", "condition"], description: "edge classifier, encoder and condition stages", missing: "the encoder and condition stages are not built yet (issue 16)" },
];

export const GATE_NAMES = GATE_VARIANTS.map((g) => g.name);

/** Builds the named variants; an unknown or missing one is an error naming why. */
export async function buildGates(names: readonly string[], deps: GateDeps): Promise<Map<string, Gate>> {
  const out = new Map<string, Gate>();
  for (const n of names) {
    const v = GATE_VARIANTS.find((g) => g.name === n);
    if (!v) throw new Error(`unknown gate variant "${n}" (known: ${GATE_NAMES.join(", ")})`);
    if (!v.build) throw new Error(`gate variant "${n}" cannot run: ${v.missing}`);
    out.set(n, await v.build(deps));
  }
  return out;
}
