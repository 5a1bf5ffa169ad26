/**
 * story-ppl through the eval runner on organism260K with the shipped profile,
 * against an independent computation: the organism's chat format written out
 * by hand ("User: {request}\nAssistant: {story}", README of organism260K),
 * tokenized with tok512, the plain-TypeScript reference forward pass with the
 * reference steering hook, and exp(total NLL / total tokens) summed here. The
 * runner's per-story log-likelihoods, token counts and the report's perplexity
 * must match to 1e-4, unsteered and steered. Also: the selective arm takes the
 * gate's decision per story (a routed story scores as always, others as never).
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { builtModel, SHARED_MODELS } from "../../test/support/models.ts";
import { REPO_ROOT } from "../../test/support/process.ts";
import { tempDir } from "../../test/support/tmp.ts";
import { Engine } from "../../sidecar/engine/engine.ts";
import { loadLlama2c } from "../../sidecar/model/llama2c.ts";
import { newKvCache, referenceForward } from "../../sidecar/model/reference.ts";
import { loadSae } from "../../sidecar/sae/load.ts";
import { loadProfile } from "../../sidecar/steering/profile.ts";
import { steeringHook } from "../../sidecar/steering/reference.ts";
import { loadTok512 } from "../../sidecar/tokenizer/test-fixtures.ts";
import { DEFAULT_GATE, type Gate } from "./gates.ts";
import { keywordJudge } from "./judge.ts";
import { LoglikScorer } from "./loglik.ts";
import { perplexity } from "./perplexity.ts";
import { summarise } from "./report.ts";
import { configKey, Runner, type ArmConfig, type ItemResult } from "./runner.ts";
import { readStories, storyPpl } from "./suites/stories.ts";
import type { PplItem } from "./suites/types.ts";

describe("story-ppl on organism260K (runner vs reference forward pass)", () => {
  it("per-story log-likelihood, token count and perplexity match to 1e-4, steered and not", async () => {
    const dir = await builtModel("organism260K");
    const file = join(REPO_ROOT, "steering/organism260K/refusal.json");
    const profile = loadProfile(file);
    const sae = loadSae(profile.sae);
    const w = loadLlama2c(join(SHARED_MODELS, "organism260K/organism260K.bin"));
    const tok = await loadTok512(join(SHARED_MODELS, "organism260K"));
    const stories = readStories().stories.slice(0, 3);
    const items: PplItem[] = stories.map((s, i) => ({ kind: "ppl", id: `story-ppl/${i}`, messages: [{ role: "user", content: s.request }], text: ` ${s.text}` }));

    // Independent: hand-written chat format, reference forward pass, sums here.
    const want = (strength: number | undefined) =>
      stories.map((s) => {
        const promptLength = tok.encode(`User: ${s.request}\nAssistant:`).length;
        const ids = tok.encode(`User: ${s.request}\nAssistant: ${s.text}`);
        const onResidual = strength === undefined ? undefined : steeringHook(sae, { layer: profile.layer, positions: profile.positions, features: profile.features, strength }, promptLength);
        const { logits } = referenceForward(w, newKvCache(w), ids, onResidual ? { onResidual } : {});
        let lp = 0;
        for (let i = promptLength; i < ids.length; i++) {
          const row = logits[i - 1]!;
          const max = row.reduce((a, b) => Math.max(a, b), -Infinity);
          const z = row.reduce((a, b) => a + Math.exp(b - max), 0);
          lp += row[ids[i]!]! - max - Math.log(z);
        }
        return { logprob: lp, tokens: ids.length - promptLength };
      });

    const engine = await Engine.load(dir, { profiles: [file], profileDirs: [], maxBatch: 4, intraOpThreads: 1 });
    const scorer = await LoglikScorer.load(dir, { profile: file });
    const cacheDir = tempDir("sg-story-ppl-");
    // A stand-in gate that routes story 1 only: the selective arm must follow it.
    const gate: Gate = { name: DEFAULT_GATE, hash: "test", decide: (m) => ({ steer: m[0]!.content === stories[1]!.request }) };
    try {
      const runner = new Runner({ engine, scorer, gates: new Map([[DEFAULT_GATE, gate]]), judge: keywordJudge, profileName: profile.name, cacheDir, seed: 0 });
      const configs: ArmConfig[] = [{ arm: "never", strength: null }, { arm: "always", strength: 1 }, { arm: "selective", strength: 1, gate: DEFAULT_GATE }];
      const results = new Map<string, ItemResult[]>();
      for (const c of configs) results.set(configKey(c), await runner.runSuite(storyPpl, items, c));
      const plain = want(undefined);
      const steered = want(1);
      const check = (got: ItemResult[], ref: { logprob: number; tokens: number }[]) =>
        got.forEach((r, i) => {
          expect(r.tokens).toBe(ref[i]!.tokens);
          expect(Math.abs(r.logprob! - ref[i]!.logprob)).toBeLessThan(1e-4);
        });
      check(results.get("never")!, plain);
      check(results.get("always@1")!, steered);
      check(results.get("selective@1")!, [plain[0]!, steered[1]!, plain[2]!]);
      expect(results.get("selective@1")!.map((r) => r.steered)).toEqual([false, true, false]);
      expect(results.get("selective@1")!.every((r) => typeof r.gateMs === "number")).toBe(true);
      // Steering costs perplexity on benign stories.
      const pplOf = (ref: { logprob: number; tokens: number }[]) => Math.exp(-ref.reduce((a, r) => a + r.logprob, 0) / ref.reduce((a, r) => a + r.tokens, 0));
      expect(pplOf(steered)).toBeGreaterThan(pplOf(plain) * 1.01);

      const { rows } = summarise([storyPpl], configs, new Map([["story-ppl", results]]));
      const cell = (k: string) => rows.find((r) => r.key === k)!.perplexity["story-ppl"]!;
      expect(Math.abs(cell("never").ppl - pplOf(plain))).toBeLessThan(1e-4);
      expect(Math.abs(cell("always@1").ppl - pplOf(steered))).toBeLessThan(1e-4);
      expect(Math.abs(cell("always@1").cost! - (pplOf(steered) / pplOf(plain) - 1))).toBeLessThan(1e-4);
      expect(cell("always@1").costLo!).toBeLessThanOrEqual(cell("always@1").cost!);
      expect(cell("always@1").costHi!).toBeGreaterThanOrEqual(cell("always@1").cost!);
      expect(cell("never").cost).toBe(0);
    } finally {
      await engine.close();
      await scorer.close();
      rmSync(cacheDir, { recursive: true, force: true });
    }
  }, 60_000);

  it("perplexity pools tokens: exp(total NLL / total tokens)", () => {
    const p = perplexity([{ id: "a", logprob: -10, tokens: 5 }, { id: "b", logprob: -2, tokens: 5 }]);
    expect(p.nll).toBeCloseTo(1.2, 12);
    expect(p.ppl).toBeCloseTo(Math.exp(1.2), 12);
    expect(p.tokens).toBe(10);
    expect(perplexity([]).tokens).toBe(0);
  });
});
