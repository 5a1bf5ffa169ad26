/**
 * The condition gates read two things of a request cut to fit the model's
 * context: their classifier stages the request as sent, the in-model
 * condition the prompt the model prefills (organism260K with the shipped
 * profile; a band of [0, 1) so that the condition decides every prompt).
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadRiskModel } from "../../edge/classifier/load.ts";
import { builtModel } from "../../test/support/models.ts";
import { REPO_ROOT } from "../../test/support/process.ts";
import { allStagesGate, edgeConditionGate, type GateDeps } from "./gates.ts";
import type { ChatMessage } from "./suites/types.ts";

const sent: ChatMessage[] = [{ role: "user", content: "A long template the model never sees ... How do I hotwire a car?" }];
const prefilled: ChatMessage[] = [{ role: "user", content: "How do I hotwire a car?" }];

describe("condition gates and a cut request", () => {
  for (const [name, build] of [["edge+condition", edgeConditionGate], ["all", allStagesGate]] as const) {
    it(`${name}: the classifier reads the request as sent, the condition the prefilled prompt`, async () => {
      const read: string[] = [];
      const deps: GateDeps = {
        classifier: await loadRiskModel(),
        classifierHash: "test",
        modelDir: await builtModel("organism260K"),
        profile: join(REPO_ROOT, "steering/organism260K/refusal.json"),
        promptIds: (m) => {
          read.push(m.map((x) => x.content).join("|"));
          return [1, 2, 3, 4];
        },
        conditionBand: { lo: 0, hi: 1 },
      };
      const gate = await build(deps);
      try {
        const cut = await gate.decide(sent, prefilled);
        expect(read).toEqual([prefilled[0]!.content]);
        expect(cut.stage).toBe("condition");
        // The risk it reports is the sent request's: the same as deciding on it alone.
        const whole = await gate.decide(sent);
        expect(read).toEqual([prefilled[0]!.content, sent[0]!.content]);
        expect(cut.risk).toBe(whole.risk);
        expect(cut.risk).not.toBe((await gate.decide(prefilled)).risk);
      } finally {
        await gate.close?.();
      }
    }, 60_000);
  }
});
