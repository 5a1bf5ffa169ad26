/**
 * CI smoke for `npm run eval`: --limit 3 on the default model (organism260K)
 * and the shipped refusal profile, strengths 0 and 1.5, every suite; checks the
 * report's structure, that refusal under jailbreaks moves with strength, that a
 * rerun is served from the cache with identical numbers, and the CLI's flags.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { main, parseCli, runEval } from "./index.ts";
import type { Report } from "./report.ts";
import { SUITE_NAMES } from "./suites/index.ts";
import { tempDir } from "../../test/support/tmp.ts";

describe("npm run eval (smoke, --limit 3)", () => {
  it("writes the report, and jailbreak refusal rises with strength on the always arm", async () => {
    const out = tempDir("sg-eval-");
    const opts = parseCli(["--limit", "3", "--strengths", "0,1.5", "--seed", "0", "--out", out]);
    if (opts === "help") throw new Error("unexpected help");
    const rep = await runEval(opts, "npm run eval -- --limit 3 --strengths 0,1.5");
    for (const f of ["report.md", "report.json", "tradeoff.svg"]) expect(existsSync(join(out, f))).toBe(true);
    const json = JSON.parse(readFileSync(join(out, "report.json"), "utf8")) as Report;
    expect(json.rows.map((r) => r.key)).toEqual(["never", "always@0", "always@1.5", "selective@0", "selective@1.5"]);
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
    expect(json.gates.map((g) => g.name)).toEqual(["edge"]);
    expect(json.gates[0]!.latencyMs.n).toBeGreaterThan(0);
    expect(json.goal.map((g) => `${g.gate}@${g.strength}`)).toEqual(["edge@0", "edge@1.5"]);
    const md = readFileSync(join(out, "report.md"), "utf8");
    expect(md).toContain("| never |");
    expect(md).toContain("| always @ 1.5 |");
    expect(readFileSync(join(out, "tradeoff.svg"), "utf8")).toMatch(/^<svg[\s\S]*Pareto frontier[\s\S]*<\/svg>\n$/);

    // Resumable: the rerun reads every item from the cache and reports the same numbers.
    const t = performance.now();
    const again = await runEval(opts, "npm run eval -- --limit 3 --strengths 0,1.5");
    expect(performance.now() - t).toBeLessThan(15_000);
    expect(again.rows).toEqual(rep.rows);
  }, 120_000);

  it("has --help (exit 0) and exits 2 on bad flags", async () => {
    expect(parseCli(["--help"])).toBe("help");
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
      expect(await main(["--gates", "edge+encoder"])).toBe(2);
      expect(await main(["--gates", "nope"])).toBe(2);
    } finally {
      process.stderr.write = err;
      process.stdout.write = out;
    }
  });
});
