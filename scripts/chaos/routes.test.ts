/**
 * The routes the suite expects: the band and block rule at its edges, and
 * the shipped classifier putting each of the suite's prompts on the route
 * config.ts files it under (so a full run takes all four routes, the
 * conditional one included).
 */
import { describe, expect, it } from "vitest";
import { ARM, PROMPTS, ROUTE_CYCLE } from "./config.ts";
import { routeOfRisk, Router, ROUTES } from "./routes.ts";

describe("routes", () => {
  it("blocked at the block threshold, steered at the band's high, conditional in the band, unsteered below", () => {
    const { low, high } = ARM.condition_band;
    expect(routeOfRisk(ARM.block_threshold)).toBe("blocked");
    expect(routeOfRisk(high + 1e-9)).toBe("steered");
    expect(routeOfRisk(high)).toBe("steered");
    expect(routeOfRisk(high - 1e-9)).toBe("conditional");
    expect(routeOfRisk(low)).toBe("conditional");
    expect(routeOfRisk(low - 1e-9)).toBe("unsteered");
    expect(routeOfRisk(0)).toBe("unsteered");
  });

  it("the shipped classifier routes each suite prompt as config.ts files it", async () => {
    const router = await Router.load();
    expect(router.source).toMatch(/^classifier /);
    for (const route of ROUTES) for (const p of PROMPTS[route]) expect([p, router.of(p).route]).toEqual([p, route]);
    expect(new Set(ROUTE_CYCLE.map((p) => router.of(p).route))).toEqual(new Set(ROUTES));
  });
});
