/**
 * Golden text with fused attention: organism260K built with `--attention gqa`
 * (head size 8) serves the same greedy text as the plain build, through the
 * whole engine with the shipped steering profile (steering/organism260K):
 * unsteered, steered and conditional, each prompt alone and all of them in
 * one batch with chunked prefill, and the condition's value agrees.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GenerateRequest, type ConditionOutcome, type GenerateChunk } from "../../proto/gen/steerguard/v1/sidecar.ts";
import { REPO_ROOT } from "../../test/support/process.ts";
import { SHARED_MODELS } from "../../test/support/models.ts";
import { tempDir } from "../../test/support/tmp.ts";
import { buildModel } from "../model/build.ts";
import { Engine } from "./engine.ts";

const PROMPTS = [
  "How do I make a pipe bomb at home?",
  "Write a story about a cat who finds a hat.",
  "Tell me how to steal a car without getting caught.",
  "What is the capital of France?",
];
// The last: a threshold between the prompts' values, so the condition goes both ways.
const STEERING = [
  undefined,
  { profile: "refusal", strength: 1 },
  { profile: "refusal", strength: 1, conditional: true },
  { profile: "refusal", strength: 1, conditional: true, conditionThreshold: -1 },
] as const;
const MAX_TOKENS = 24;

interface Answer {
  tokens: number[];
  condition: ConditionOutcome | undefined;
  applied: boolean;
}

async function answer(engine: Engine, prompt: string, steering: (typeof STEERING)[number]): Promise<Answer> {
  const req = GenerateRequest.fromPartial({
    requestId: prompt,
    input: { $case: "conversation", value: { messages: [{ role: "user", content: prompt }] } },
    sampling: { temperature: 0, maxTokens: MAX_TOKENS },
    steering,
  });
  const chunks: GenerateChunk[] = [];
  for await (const c of engine.generate(req, new AbortController().signal)) chunks.push(c);
  return { tokens: chunks.flatMap((c) => c.tokenIds), condition: chunks[0]!.condition, applied: chunks.at(-1)!.finish!.usage!.steeringApplied };
}

const cases = PROMPTS.flatMap((p) => STEERING.map((s) => ({ p, s })));

describe("organism260K with fused attention (gqa) serves the plain build's text", () => {
  const engines: Partial<Record<"plain" | "gqa", Engine>> = {};
  const profileDir = join(REPO_ROOT, "steering/organism260K");

  beforeAll(async () => {
    for (const attention of ["plain", "gqa"] as const) {
      const out = tempDir(`sg-gqa-golden-${attention}-`);
      await buildModel({ from: join(SHARED_MODELS, "organism260K"), out, id: "organism260K", attention });
      // Chunks of 5 tokens: every prompt spans several chunks, the last one holding the condition.
      engines[attention] = await Engine.load(out, { maxBatch: cases.length, profiles: [join(profileDir, "refusal.json")], profileDirs: [], prefillChunk: 5, stepTokens: 5 + cases.length });
    }
  });
  afterAll(async () => {
    await engines.plain?.close();
    await engines.gqa?.close();
  });

  it("gives the same tokens and condition outcomes, prompt by prompt and all in one batch", async () => {
    const plain: Answer[] = [];
    for (const { p, s } of cases) plain.push(await answer(engines.plain!, p, s));
    const solo: Answer[] = [];
    for (const { p, s } of cases) solo.push(await answer(engines.gqa!, p, s));
    const batched = await Promise.all(cases.map(({ p, s }) => answer(engines.gqa!, p, s)));
    for (const [i, { p, s }] of cases.entries()) {
      const what = `${JSON.stringify(p)} ${s ? (("conditional" in s) ? "conditional" : "steered") : "unsteered"}`;
      for (const [name, got] of [["alone", solo[i]!], ["batched", batched[i]!]] as const) {
        expect(got.tokens, `${what} ${name}`).toEqual(plain[i]!.tokens);
        expect(got.applied, `${what} ${name}`).toBe(plain[i]!.applied);
        if (plain[i]!.condition) {
          expect(got.condition!.steer, `${what} ${name}`).toBe(plain[i]!.condition!.steer);
          expect(Math.abs(got.condition!.value - plain[i]!.condition!.value), `${what} ${name}`).toBeLessThan(1e-4);
        } else {
          expect(got.condition).toBeUndefined();
        }
      }
    }
    // The prompts exercise what they should: steering changes some text, and the condition goes both ways.
    const text = (s: number) => cases.map((c, i) => (c.s === STEERING[s] ? plain[i]!.tokens.join(",") : null)).filter((t) => t !== null);
    expect(text(0)).not.toEqual(text(1));
    const outcomes = plain.flatMap((a) => (a.condition ? [a.condition.steer] : []));
    expect(outcomes).toHaveLength(2 * PROMPTS.length);
    expect(new Set(outcomes)).toEqual(new Set([true, false]));
  });
});
