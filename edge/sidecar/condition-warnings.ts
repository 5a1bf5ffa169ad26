/**
 * Tells operators when a condition band meets a profile without a condition.
 * The edge then sends in-band prompts steered (edge/pipeline/
 * condition-fallback.ts): the service works, so /readyz stays ready, but the
 * band's low acts as the steering threshold. The log says so once per profile and sidecar, when a
 * health round's Info first shows it (and once more if it is fixed), and
 * /readyz lists it under `warnings` while it lasts.
 */
import { bandOf, routedArms, type Config } from "../config/index.ts";
import type { SidecarBackend } from "./index.ts";
import type { ServedProfiles } from "./profiles.ts";

/** The profiles the conditional route may send: those of every arm a condition band applies to. */
export function bandedProfiles(config: Pick<Config, "classifier" | "experiments" | "steering">): Set<string> {
  const profiles = routedArms(config).filter(({ arm }) => bandOf(config, arm)).map(({ arm }) => arm.profile ?? config.steering.profile);
  return new Set(profiles.filter((p) => p !== ""));
}

export function noConditionWarning(profile: string, address: string): string {
  return `condition band configured but profile ${profile} on sidecar ${address} has no condition: in-band prompts are steered`;
}

/** /readyz: one warning per banded profile and healthy sidecar that serves it without a condition. */
export function conditionWarnings(profiles: ReadonlySet<string>, sidecar: Pick<SidecarBackend, "withoutCondition">): string[] {
  if (!sidecar.withoutCondition) return [];
  return [...profiles].flatMap((p) => sidecar.withoutCondition!(p).map((address) => noConditionWarning(p, address)));
}

/** Logs each (profile, sidecar) without a condition once, from the profiles of every Info answer. */
export class ConditionWarningLog {
  private readonly warned = new Set<string>();
  constructor(
    private readonly profiles: ReadonlySet<string>,
    private readonly log: (line: string) => void,
  ) {}

  observe(address: string, served: ServedProfiles): void {
    for (const profile of this.profiles) {
      const listed = served.get(profile);
      if (!listed) continue; // not served there: nothing to say about its condition
      const key = `${profile}\u0000${address}`;
      if (!listed.hasCondition && !this.warned.has(key)) {
        this.warned.add(key);
        this.log(`edge: warning: ${noConditionWarning(profile, address)}`);
      } else if (listed.hasCondition && this.warned.delete(key)) {
        this.log(`edge: profile ${profile} on sidecar ${address} now has a condition: in-band prompts are conditional again`);
      }
    }
  }
}
