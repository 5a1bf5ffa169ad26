/**
 * The pool records from each health round's Info which steering profiles a
 * sidecar serves and whether each has a condition; `withoutCondition()`
 * names the healthy sidecars that serve a profile without one. In-process
 * gRPC sidecars (test/support/fake-sidecar.ts) whose Info lists profiles.
 */
import { afterEach, describe, expect, it } from "vitest";
import { InfoResponse } from "../../proto/gen/steerguard/v1/sidecar.ts";
import { startFakeSidecar } from "../../test/support/fake-sidecar.ts";
import { SidecarPool, type ServedProfiles } from "./index.ts";
import { profilesFromInfo } from "./profiles.ts";

const WITH = { name: "cond", hasCondition: true, conditionThreshold: 1.5 };
const WITHOUT = { name: "plain", hasCondition: false, conditionThreshold: 0 };

describe("profilesFromInfo", () => {
  it("keeps each listed profile's condition, and its threshold only when it has one", () => {
    const p = profilesFromInfo(InfoResponse.fromPartial({ profiles: [WITH, WITHOUT] }));
    expect([...p]).toEqual([
      ["cond", { hasCondition: true, conditionThreshold: 1.5 }],
      ["plain", { hasCondition: false, conditionThreshold: null }],
    ]);
    expect(profilesFromInfo(InfoResponse.fromPartial({})).size).toBe(0);
  });
});

describe("SidecarPool profiles", () => {
  const cleanup: Array<() => unknown> = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });
  const fake = async (profiles: (typeof WITH)[]) => {
    const f = await startFakeSidecar({ profiles });
    cleanup.push(() => f.close());
    return f;
  };
  const pool = (addresses: string[], seen: Array<[string, ServedProfiles]> = []) => {
    const p = new SidecarPool(addresses, { healthIntervalMs: 60_000, healthTimeoutMs: 2_000, onProfiles: (a, profiles) => seen.push([a, profiles]) });
    cleanup.push(() => p.close());
    return p;
  };

  it("knows nothing before Info answers, then names the healthy sidecars serving a profile without a condition", async () => {
    const [a, b] = [await fake([WITH, WITHOUT]), await fake([{ ...WITHOUT, name: "cond" }])];
    const seen: Array<[string, ServedProfiles]> = [];
    const p = pool([a.address, b.address], seen);
    expect(p.withoutCondition("plain")).toEqual([]);
    await p.startHealthChecks();
    expect(p.withoutCondition("plain")).toEqual([a.address]);
    // "cond" has a condition on a, none on b.
    expect(p.withoutCondition("cond")).toEqual([b.address]);
    // Not served anywhere: nothing known about its condition.
    expect(p.withoutCondition("other")).toEqual([]);
    expect(seen.map(([addr, profiles]) => [addr, profiles.get("cond")?.hasCondition]).sort()).toEqual(
      [[a.address, true], [b.address, false]].sort(),
    );
  });

  it("follows what each round's Info says, and forgets a sidecar that is down", async () => {
    const a = await fake([WITHOUT]);
    const seen: Array<[string, ServedProfiles]> = [];
    const p = pool([a.address], seen);
    await p.startHealthChecks();
    expect(p.withoutCondition("plain")).toEqual([a.address]);
    // Restarted with a condition: the next round sees it.
    a.setProfiles([{ ...WITHOUT, hasCondition: true, conditionThreshold: 0.5 }]);
    await p.startHealthChecks();
    expect(p.withoutCondition("plain")).toEqual([]);
    expect(seen.at(-1)![1].get("plain")).toEqual({ hasCondition: true, conditionThreshold: 0.5 });
    expect(seen).toHaveLength(2);
    a.setProfiles([WITHOUT]);
    a.setServing(false);
    await p.startHealthChecks();
    expect(p.ready()).toBe(false);
    expect(p.withoutCondition("plain")).toEqual([]);
    a.setServing(true);
    await p.startHealthChecks();
    expect(p.withoutCondition("plain")).toEqual([a.address]);
  });
});
