/**
 * What the edge knows of the steering profiles a sidecar serves, read from
 * its Info answer (InfoResponse.profiles) on each health round: whether each
 * carries a condition. A conditional request on a profile without one is
 * refused by the sidecar (INVALID_ARGUMENT), so the edge sends such a request
 * as a plain steered one instead (edge/pipeline/condition-fallback.ts).
 */
import type { InfoResponse } from "../../proto/gen/steerguard/v1/sidecar.ts";

export interface ProfileCondition {
  hasCondition: boolean;
  /** The profile's own condition threshold (meaningful only with a condition). */
  conditionThreshold: number | null;
}

/** Profile name -> its condition, as one sidecar listed them. */
export type ServedProfiles = ReadonlyMap<string, ProfileCondition>;

export function profilesFromInfo(info: Pick<InfoResponse, "profiles">): ServedProfiles {
  return new Map(info.profiles.map((p) => [p.name, { hasCondition: p.hasCondition, conditionThreshold: p.hasCondition ? p.conditionThreshold : null }]));
}
