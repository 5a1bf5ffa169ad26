import { describe, expect, it } from "vitest";
import { parseBand, routeBanded } from "./condition-gate.ts";
import { gateSummaries } from "./report.ts";
import type { ArmConfig, ItemResult } from "./runner.ts";
import type { SuiteDef } from "./suites/types.ts";

describe("the condition route", () => {
  const band = { lo: 0.1, hi: 0.6 };
  const cond = (value: number | undefined) => {
    let calls = 0;
    return { get calls() { return calls; }, fn: async () => (calls++, { value, holds: (v: number) => v >= 0.5 }) };
  };

  it("steers at or above the band, not below it, without asking the model", async () => {
    for (const [risk, steer] of [[0.6, true], [0.95, true], [0.0999, false], [0, false]] as const) {
      const c = cond(1);
      const r = await routeBanded({ risk, risky: risk >= 0.19, stage: "encoder" }, band, c.fn);
      expect(r).toEqual({ steer, stage: "encoder" });
      expect(c.calls).toBe(0);
    }
  });

  it("inside the band the condition decides, whatever the earlier stage said", async () => {
    expect(await routeBanded({ risk: 0.1, risky: false, stage: "edge" }, band, cond(0.7).fn)).toEqual({ steer: true, stage: "condition", value: 0.7 });
    expect(await routeBanded({ risk: 0.59, risky: true, stage: "edge" }, band, cond(0.2).fn)).toEqual({ steer: false, stage: "condition", value: 0.2 });
    expect(await routeBanded({ risk: 0.3, risky: true, stage: "edge" }, band, cond(0.5).fn)).toMatchObject({ steer: true, stage: "condition" });
  });

  it("keeps the earlier decision for a prompt the condition has no value for", async () => {
    expect(await routeBanded({ risk: 0.3, risky: true, stage: "edge" }, band, cond(undefined).fn)).toEqual({ steer: true, stage: "edge" });
    expect(await routeBanded({ risk: 0.3, risky: false, stage: "edge" }, band, cond(undefined).fn)).toEqual({ steer: false, stage: "edge" });
  });

  it("an empty band is the earlier stage at the band's edge", async () => {
    const b = { lo: 0.19, hi: 0.19 };
    expect((await routeBanded({ risk: 0.19, risky: true, stage: "edge" }, b, cond(0).fn)).steer).toBe(true);
    expect((await routeBanded({ risk: 0.18, risky: false, stage: "edge" }, b, cond(1).fn)).steer).toBe(false);
  });

  it("parses LO,HI", () => {
    expect(parseBand("0.05,0.6")).toEqual({ lo: 0.05, hi: 0.6 });
    expect(parseBand(" 0 , 1 ")).toEqual({ lo: 0, hi: 1 });
    for (const bad of ["0.6,0.05", "0.1", "a,b", "0.1,", "-0.1,0.5", "0.1,1.5", "0.1,0.2,0.3"]) expect(() => parseBand(bad)).toThrow(/LO,HI/);
  });
});

describe("gate rows", () => {
  it("count routed prompts, the share each stage decided and the band's share per class, and time each stage", () => {
    const suites = [
      { name: "jb", group: "jailbreak" },
      { name: "xs", group: "overrefusal" },
    ] as SuiteDef[];
    const configs: ArmConfig[] = [{ arm: "selective", strength: 1, gate: "edge+condition" }];
    const r = (id: string, steered: boolean, stage: string, gateMs: number): ItemResult => ({ id, steered, stage, gateMs });
    const results = new Map([
      ["jb", new Map([["selective[edge+condition]@1", [r("a", true, "edge", 0.1), r("b", true, "condition", 3), r("c", false, "condition", 5)]]])],
      ["xs", new Map([["selective[edge+condition]@1", [r("d", false, "edge", 0.2), r("e", false, "condition", 4)]]])],
    ]);
    const [g] = gateSummaries(suites, configs, results, { "edge+condition": { lo: 0.1, hi: 0.6 } });
    expect(g!.band).toEqual({ lo: 0.1, hi: 0.6 });
    expect([g!.routed.all.k, g!.routed.all.n, g!.routed.risky.k, g!.routed.benign.k]).toEqual([2, 5, 2, 0]);
    expect(g!.decidedBy.condition!.rate).toBeCloseTo(3 / 5, 12);
    expect(g!.decidedBy.edge!.rate).toBeCloseTo(2 / 5, 12);
    expect(g!.inBand!.risky.rate).toBeCloseTo(2 / 3, 12);
    expect(g!.inBand!.benign.rate).toBeCloseTo(1 / 2, 12);
    expect(g!.latencyByStage.condition!.n).toBe(3);
    expect(g!.latencyByStage.condition!.mean).toBeCloseTo(4, 12);
    expect(g!.latencyByStage.edge!.p95).toBe(0.2);
    expect(g!.latencyMs.n).toBe(5);
    expect(g!.latencyNote).toMatch(/prefill/);
  });
});
