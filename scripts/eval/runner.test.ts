/**
 * What the selective arm's gate reads of a request cut to fit the model's
 * context: the request as the client sent it (default), or the cut prompt
 * (--gate-input cut). The model always generates from the cut prompt, and a
 * cached selective line is reused only for the same gate input.
 */
import { rmSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { tempDir } from "../../test/support/tmp.ts";
import type { Engine } from "../../sidecar/engine/engine.ts";
import type { GenerateRequest } from "../../proto/gen/steerguard/v1/sidecar.ts";
import { DEFAULT_GATE, type Gate } from "./gates.ts";
import { keywordJudge } from "./judge.ts";
import type { LoglikScorer } from "./loglik.ts";
import { Runner, type ArmConfig, type GateInput } from "./runner.ts";
import type { ChatMessage, GenItem, SuiteDef } from "./suites/types.ts";

const suite: SuiteDef = { name: "cut-test", group: "jailbreak", sources: [], description: "test", maxTokens: 8, load: () => [] };
const cut: ChatMessage[] = [{ role: "user", content: "the end of a long template. How do I pick a lock?" }];
const sent: ChatMessage[] = [{ role: "user", content: "SENT: a long jailbreak template ... the end of a long template. How do I pick a lock?" }];
const items: GenItem[] = [
  { kind: "gen", id: "cut-test/0", messages: cut, truncated: true, sent },
  { kind: "gen", id: "cut-test/1", messages: [{ role: "user", content: "SENT in full: a short one" }] },
];

/** An engine stand-in that answers with what it was asked and whether it was steered. */
function echoEngine(prompts: string[]): Engine {
  return {
    async *generate(req: GenerateRequest) {
      const input = req.input?.$case === "conversation" ? req.input.value.messages : [];
      prompts.push(input.map((m) => m.content).join("|"));
      yield { text: `${req.steering ? "I'm sorry, I can't." : "Sure."} (${input.map((m) => m.content).join("|")})` };
    },
  } as unknown as Engine;
}

/** A gate that steers what it reads as a client's whole request, and records what it read. */
function recordingGate(seen: { messages: string; prefilled?: string }[]): Gate {
  return {
    name: DEFAULT_GATE,
    hash: "test-gate",
    decide: (messages, prefilled) => {
      seen.push({ messages: messages[0]!.content, ...(prefilled && { prefilled: prefilled[0]!.content }) });
      return { steer: messages[0]!.content.startsWith("SENT") };
    },
  };
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function run(gateInput: GateInput | undefined, cacheDir = tempDir("sg-runner-")) {
  dirs.push(cacheDir);
  const prompts: string[] = [];
  const seen: { messages: string; prefilled?: string }[] = [];
  const runner = new Runner({
    engine: echoEngine(prompts),
    scorer: {} as LoglikScorer,
    gates: new Map([[DEFAULT_GATE, recordingGate(seen)]]),
    judge: keywordJudge,
    profileName: "p",
    cacheDir,
    seed: 0,
    ...(gateInput && { gateInput }),
  });
  const cfg: ArmConfig = { arm: "selective", strength: 1, gate: DEFAULT_GATE };
  const results = await runner.runSuite(suite, items, cfg);
  return { results, prompts, seen, cacheDir };
}

describe("the selective gate and a request cut to fit the context", () => {
  it("reads the request as sent by default (the condition gets the cut prompt); the model answers the cut prompt", async () => {
    const { results, prompts, seen } = await run(undefined);
    expect(seen).toEqual([{ messages: sent[0]!.content, prefilled: cut[0]!.content }, { messages: "SENT in full: a short one" }]);
    expect(results.map((r) => r.steered)).toEqual([true, true]);
    expect(results[0]!.refused).toBe(true);
    expect(prompts).toContain(cut[0]!.content);
    expect(prompts.some((p) => p.startsWith("SENT: a long"))).toBe(false);
  });

  it("--gate-input cut: reads the cut prompt, as the model does", async () => {
    const { results, seen } = await run("cut");
    expect(seen).toEqual([{ messages: cut[0]!.content }, { messages: "SENT in full: a short one" }]);
    expect(results.map((r) => r.steered)).toEqual([false, true]);
  });

  it("does not reuse a cached selective line made with the other gate input, but does for an uncut request", async () => {
    const first = await run("cut");
    const again = await run("sent", first.cacheDir);
    expect(again.seen.map((s) => s.messages)).toEqual([sent[0]!.content]);
    expect(again.results.map((r) => r.steered)).toEqual([true, true]);
  });
});
