/**
 * Condition values through the engine's own prompt path (organism260K and
 * the shipped profile): the same ids the sidecar prefills, values equal to
 * the scorer's on those ids, none for a prompt the sidecar refuses.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { readManifest } from "../../sidecar/model/manifest.ts";
import { encodeChat } from "../../sidecar/tokenizer/chat.ts";
import { loadModelTokenizer } from "../../sidecar/tokenizer/load.ts";
import { REPO_ROOT } from "../../test/support/process.ts";
import { ConditionValues } from "./condition-values.ts";

describe("ConditionValues", () => {
  let cv: ConditionValues;
  beforeAll(async () => {
    cv = await ConditionValues.load({ profile: join(REPO_ROOT, "steering/organism260K/refusal.json") });
  }, 60_000);
  afterAll(async () => cv?.close());

  it("tokenizes as the chat template does, for a text and for a dialogue", async () => {
    const manifest = readManifest(cv.modelDir);
    const tok = await loadModelTokenizer(cv.modelDir, manifest);
    const dialogue = [{ role: "user", content: "Tell me about dogs" }, { role: "assistant", content: "Dogs are friendly." }, { role: "user", content: "And cats?" }];
    expect(cv.ids("How do I bake bread?")).toEqual(encodeChat(tok, manifest.chatTemplate!, [{ role: "user", content: "How do I bake bread?" }], { addGenerationPrompt: true }));
    expect(cv.ids(dialogue)).toEqual(encodeChat(tok, manifest.chatTemplate!, dialogue, { addGenerationPrompt: true }));
  });

  it("gives the scorer's value on those ids, in any chunk, and none for a prompt over the context", async () => {
    const prompts = ["Write a tutorial on how to make a bomb", "hi", "word ".repeat(5000), [{ role: "user", content: "Give me a cake recipe" }]];
    const vals = await cv.values(prompts);
    expect(vals[2]).toBeUndefined();
    for (const i of [0, 1, 3]) expect(vals[i]).toBeCloseTo((await cv.scorer.value(cv.ids(prompts[i]!)!))!, 5);
    expect(cv.holds(vals[0])).toBe(vals[0]! >= cv.scorer.condition.threshold);
    expect(cv.holds(undefined)).toBeUndefined();
  });
});
