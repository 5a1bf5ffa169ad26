/**
 * CI smoke for `npm run eval`: --limit 3 on the default model (organism260K)
 * and the shipped refusal profile, strengths 0 and 1.5, every suite, every
 * gate variant; checks the report's structure, that refusal under jailbreaks
 * moves with strength, that every selective item is its never or always
 * result as its gate routed it (the condition gates included), that a rerun
 * is served from the cache with identical numbers, and the CLI's flags.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { main, parseCli, runEval } from "./index.ts";
import type { Report } from "./report.ts";
import type { ItemResult } from "./runner.ts";
import { DEFAULT_GATE } from "./gates.ts";
import { SUITE_NAMES } from "./suites/index.ts";
import { tempDir } from "../../test/support/tmp.ts";

describe("npm run eval (smoke, --limit 3)", () => {
  it("writes the report, and jailbreak refusal rises with strength on the always arm", async () => {
    const out = tempDir("sg-eval-");
    const gates = ["edge+encoder", "edge", "edge+condition", "all"]; // the default gate first: its rows are plain "selective"
    expect(gates[0]).toBe(DEFAULT_GATE);
    const opts = parseCli(["--limit", "3", "--strengths", "0,1.5", "--seed", "0", "--out", out, "--gates", gates.join(",")]);
    if (opts === "help") throw new Error("unexpected help");
    const rep = await runEval(opts, `npm run eval -- --limit 3 --strengths 0,1.5 --gates ${gates.join(",")}`);
    for (const f of ["report.md", "report.json", "tradeoff.svg"]) expect(existsSync(join(out, f))).toBe(true);
    const json = JSON.parse(readFileSync(join(out, "report.json"), "utf8")) as Report;
    expect(json.rows.map((r) => r.key)).toEqual([
      "never", "always@0", "always@1.5", "selective@0", "selective@1.5",
      ...gates.slice(1).flatMap((g) => [`selective[${g}]@0`, `selective[${g}]@1.5`]),
    ]);
    expect(json.suites.map((s) => s.name)).toEqual(SUITE_NAMES);
    for (const s of json.suites) expect(s.n).toBe(3);
    const pplSuites = json.suites.filter((s) => s.metric === "perplexity").map((s) => s.name);
    expect(pplSuites).toEqual(["story-ppl"]);
    for (const r of json.rows) {
      for (const name of pplSuites) expect(r.perplexity[name]!.n).toBe(3);
      for (const name of SUITE_NAMES.filter((n) => !pplSuites.includes(n))) {
        const c = r.suites[name]!;
        expect(c.n).toBe(3);
        expect(c.lo).toBeLessThanOrEqual(c.rate);
        expect(c.hi).toBeGreaterThanOrEqual(c.rate);
      }
      expect(typeof r.capability).toBe("number");
      expect(typeof r.capabilityDelta).toBe("number");
    }
    expect(json.hashes.model).toMatch(/^[0-9a-f]{64}$/);
    expect(json.hashes.profile).toMatch(/^[0-9a-f]{64}$/);
    expect(json.hashes.config).toMatch(/^[0-9a-f]{64}$/);
    expect(json.model.id).toBe("organism260K");
    expect(json.profile.file).toBe("steering/organism260K/refusal.json");
    expect(json.seed).toBe(0);
    expect(json.suites.find((s) => s.name === "jailbreak-templates")!.truncated).toBeGreaterThan(0);
    expect(json.suites.find((s) => s.name === "mmlu-fewshot")!.meanShots).toBeGreaterThan(0);
    expect(json.suites.find((s) => s.name === "harmbench")!.routed).toBeGreaterThan(0);
    const row = (k: string) => json.rows.find((r) => r.key === k)!;
    // The claim under test: steering harder raises refusal under jailbreaks.
    expect(row("always@1.5").suites["jailbreak-templates"]!.rate).toBeGreaterThan(row("always@0").suites["jailbreak-templates"]!.rate);
    expect(row("always@1.5").jailbreakRefusal!.rate).toBeGreaterThan(row("always@0").jailbreakRefusal!.rate);
    expect(row("always@1.5").jailbreakRefusal!.rate).toBeGreaterThan(row("never").jailbreakRefusal!.rate);
    // ... and costs story perplexity, which the never arm does not pay.
    expect(row("never").perplexityCost).toBe(0);
    expect(row("always@1.5").perplexityCost!).toBeGreaterThan(0.05);
    expect(json.gates.map((g) => g.name)).toEqual(gates);
    const items = json.suites.reduce((a, s) => a + s.n, 0);
    for (const g of json.gates) {
      expect(g.latencyMs.n).toBe(items);
      const shares = Object.values(g.decidedBy).reduce((a, r) => a + r.k, 0);
      expect(shares).toBe(items);
    }
    const gate = (name: string) => json.gates.find((g) => g.name === name)!;
    expect(Object.keys(gate("edge").decidedBy)).toEqual(["edge"]);
    expect(gate("edge+condition").band).toEqual(json.config.conditionBands && (json.config.conditionBands as Record<string, unknown>)["edge+condition"]);
    expect(gate("edge+condition").inBand).toBeDefined();
    expect(gate("edge+condition").latencyNote).toMatch(/prefill/);
    expect(json.goal.map((g) => `${g.gate}@${g.strength}`)).toEqual(gates.flatMap((g) => [`${g}@0`, `${g}@1.5`]));
    // A selective item is exactly the never or the always item, as its gate routed it; edge+condition
    // agrees with edge outside its band (the condition decides only inside).
    const cache = (suite: string, key: string) =>
      new Map(readFileSync(join(out, "cache", readdirSync(join(out, "cache"))[0]!, suite, `${key}.jsonl`), "utf8").trim().split("\n").map((l) => JSON.parse(l) as ItemResult).map((r) => [r.id, r]));
    const band = gate("edge+condition").band!;
    for (const s of json.suites) {
      const never = cache(s.name, "never");
      const edge = cache(s.name, "selective[edge]@1.5");
      for (const g of gates) {
        const sel = cache(s.name, g === DEFAULT_GATE ? "selective@1.5" : `selective[${g}]@1.5`);
        const always = cache(s.name, "always@1.5");
        for (const [id, r] of sel) {
          const want = r.steered ? always.get(id)! : never.get(id)!;
          for (const k of ["response", "refused", "correct", "logprob", "pred"] as const) expect(r[k], `${g} ${id} ${k}`).toEqual(want[k]);
          if (g === "edge+condition" && (r.risk! >= band.hi || r.risk! < band.lo)) {
            expect(r.stage).toBe("edge");
            expect(r.steered).toBe(r.risk! >= band.hi);
          }
          if (g === "edge+condition" && r.stage === "edge" && r.risk! >= band.lo && r.risk! < band.hi) throw new Error(`${id}: in band but not decided by the condition`);
          if (g === "edge+condition") expect(r.risk).toBe(edge.get(id)!.risk);
        }
      }
    }
    const md = readFileSync(join(out, "report.md"), "utf8");
    expect(md).toContain("| never |");
    expect(md).toContain("| always @ 1.5 |");
    expect(readFileSync(join(out, "tradeoff.svg"), "utf8")).toMatch(/^<svg[\s\S]*Pareto frontier[\s\S]*<\/svg>\n$/);

    // Resumable: the rerun reads every item from the cache and reports the same numbers.
    const t = performance.now();
    const again = await runEval(opts, "npm run eval -- --limit 3 --strengths 0,1.5 --gates edge,edge+encoder,edge+condition,all");
    expect(performance.now() - t).toBeLessThan(15_000);
    expect(again.rows).toEqual(rep.rows);
  }, 240_000);

  it("has --help (exit 0) and exits 2 on bad flags", async () => {
    expect(parseCli(["--help"])).toBe("help");
    // every gate variant is built now
    for (const g of ["edge+encoder", "edge+condition", "all"]) expect(parseCli(["--gates", g])).toMatchObject({ gates: [g] });
    expect(parseCli(["--gates", "all", "--condition-band", "0.02,0.5"])).toMatchObject({ conditionBand: { lo: 0.02, hi: 0.5 } });
    expect(parseCli([])).toMatchObject({ gateInput: "sent" });
    expect(parseCli(["--gate-input", "cut"])).toMatchObject({ gateInput: "cut" });
    const err = process.stderr.write;
    const out = process.stdout.write;
    process.stderr.write = (() => true) as typeof process.stderr.write;
    process.stdout.write = (() => true) as typeof process.stdout.write;
    try {
      expect(await main(["--help"])).toBe(0);
      expect(await main(["--bogus"])).toBe(2);
      expect(await main(["--arms", "sometimes"])).toBe(2);
      expect(await main(["--suites", "nope"])).toBe(2);
      expect(await main(["--limit", "0"])).toBe(2);
      expect(await main(["--strengths", "a,b"])).toBe(2);
      expect(await main(["--suites", "crescendo"])).toBe(2);
      expect(await main(["--gates", "nope"])).toBe(2);
      expect(await main(["--gate-input", "whole"])).toBe(2);
      expect(await main(["--condition-band", "0.6,0.1", "--gates", "edge+condition"])).toBe(2);
      expect(await main(["--condition-band", "0.1,0.6"])).toBe(2); // no condition gate asked for
      // a condition gate needs a profile with a condition
      const dir = tempDir("sg-eval-flags-");
      const bare = join(dir, "bare.json");
      const shipped = JSON.parse(readFileSync(join(import.meta.dirname, "../../steering/organism260K/refusal.json"), "utf8")) as Record<string, unknown>;
      delete shipped.condition;
      writeFileSync(bare, JSON.stringify({ ...shipped, sae: join(import.meta.dirname, "../../steering/organism260K/sae") }));
      expect(await main(["--gates", "edge+condition", "--profile", bare, "--out", dir])).toBe(2);
    } finally {
      process.stderr.write = err;
      process.stdout.write = out;
    }
  });
});
