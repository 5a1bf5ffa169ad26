/**
 * Arm assignment and the routing decision.
 *
 * - Assignment is sticky: SHA-256 of `salt + "\u0000" + subject` (subject = the
 *   request's `user` field, else the API key id) gives a point u in [0, 1);
 *   the arm is the one whose slice of the cumulative weights holds u. The same
 *   user always lands in the same arm while the salt and weights stay put.
 * - The decision: policy `never` -> unsteered, `always` -> steered,
 *   `selective` -> steered when risk >= threshold; any arm with
 *   `block_threshold` blocks (refusal without generation) when risk >= it.
 * - A selective arm with a condition band [low, high) (config/index.ts
 *   bandOf) has a third route: risk >= high -> steered, low <= risk < high ->
 *   conditional (the sidecar steers only if the model's own condition holds at
 *   the last prompt token), risk < low -> unsteered. `high` is its threshold.
 */
import { createHash } from "node:crypto";
import { bandOf, defaultArm, type Arm, type ConditionBand, type Config, type Experiment } from "../config/index.ts";

export type Route = "steered" | "unsteered" | "blocked" | "conditional";

/** The steering sent to the sidecar: the profile, its strength, and on the conditional route the condition request. */
export interface SteeringChoice {
  profile: string;
  strength: number;
  /** Conditional route only: the sidecar steers only when the profile's condition holds. */
  conditional?: true;
  /** Conditional route only, when configured: overrides the profile's condition threshold. */
  condition_threshold?: number;
}

export interface Assignment {
  experiment: string;
  arm: Arm;
}

export interface Decision {
  experiment: string;
  arm: string;
  policy: Arm["policy"];
  route: Route;
  risk: number;
  /** The threshold the decision used (selective arms; with a band, its high), else null. */
  threshold: number | null;
  /** The arm's condition band (selective arms with one), else null. */
  band: ConditionBand | null;
  /** Sent to the sidecar on steered and conditional routes; profile "" means no steering field. */
  steering: SteeringChoice | null;
}

/** A uniform point in [0, 1) from `salt` and `subject`. */
export function hashUnit(salt: string, subject: string): number {
  const d = createHash("sha256").update(salt).update("\u0000").update(subject).digest();
  // 48 bits: plenty of resolution, exact in a double.
  return (d.readUIntBE(0, 6)) / 2 ** 48;
}

/** Picks the arm of `subject` in `experiment`. */
export function assignArm(experiment: Experiment, subject: string): Arm {
  const arms = experiment.arms;
  const total = arms.reduce((s, a) => s + a.weight, 0);
  const u = hashUnit(experiment.salt ?? experiment.name, subject) * total;
  let acc = 0;
  for (const arm of arms) {
    acc += arm.weight;
    if (u < acc && arm.weight > 0) return arm;
  }
  // Floating-point edge: the last arm with weight.
  return [...arms].reverse().find((a) => a.weight > 0)!;
}

/** The arm used when no experiment is configured for a model (defined beside the config, which checks it too). */
export { defaultArm };

/** Decides the route of one request. `defaultThreshold` is the classifier's. */
export function decide(config: Config, experiment: string, arm: Arm, risk: number, defaultThreshold: number): Decision {
  const band = bandOf(config, arm);
  const threshold = arm.policy === "selective" ? (band?.high ?? arm.threshold ?? defaultThreshold) : null;
  let route: Route;
  if (arm.block_threshold !== undefined && risk >= arm.block_threshold) route = "blocked";
  else if (arm.policy === "always") route = "steered";
  else if (arm.policy === "never") route = "unsteered";
  else if (risk >= threshold!) route = "steered";
  else route = band && risk >= band.low ? "conditional" : "unsteered";
  return { experiment, arm: arm.name, policy: arm.policy, route, risk, threshold, band, steering: steeringFor(config, arm, route) };
}

function steeringFor(config: Config, arm: Arm, route: Route): SteeringChoice | null {
  if (route !== "steered" && route !== "conditional") return null;
  const base = { profile: arm.profile ?? config.steering.profile, strength: arm.strength ?? config.steering.strength };
  if (route === "steered") return base;
  const override = arm.condition_threshold ?? config.steering.condition_threshold;
  return { ...base, conditional: true, ...(override === undefined ? {} : { condition_threshold: override }) };
}
