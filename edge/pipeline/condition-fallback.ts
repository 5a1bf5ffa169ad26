/**
 * The conditional route when the profile cannot be conditional. The sidecar
 * refuses a conditional request on a profile without a condition
 * (INVALID_ARGUMENT), which would turn an operator's misconfiguration (a band
 * on an arm whose profile has none) into a 400 for every in-band prompt.
 * When a healthy sidecar's Info says the profile has no condition, the
 * request goes as a plain steered one instead: the route was "maybe
 * steered", so steering it fails closed. The event records why
 * (`condition_fallback`), the x-steerguard-condition header says
 * `unavailable`, and the edge's log says it once per profile and sidecar
 * (edge/sidecar/condition-warnings.ts). While no Info has answered yet, the
 * request goes conditional as decided.
 */
import type { Decision, SteeringChoice } from "../routing/index.ts";
import type { SidecarBackend } from "../sidecar/index.ts";

/** The event's `condition_fallback` when a conditional request was sent steered because its profile has no condition. */
export const NO_CONDITION = "profile has no condition: steered";

/** The steering to send instead of a conditional request the sidecars would refuse; null: send it as decided. */
export function conditionFallback(decision: Decision, sidecar: Pick<SidecarBackend, "withoutCondition">): SteeringChoice | null {
  const s = decision.steering;
  if (!s?.conditional || !sidecar.withoutCondition) return null;
  if (sidecar.withoutCondition(s.profile).length === 0) return null;
  // A whole steering without the condition request (and its threshold override).
  return { profile: s.profile, strength: s.strength };
}
