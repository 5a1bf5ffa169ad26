/**
 * The suites that cut a request to fit the model's context keep the request as
 * the client sent it (GenItem.sent) for the gate, and only when they cut it.
 * Token counts here are characters / 4, a stand-in for the model's tokenizer:
 * what is checked is the bookkeeping, not where a real cut falls.
 */
import { describe, expect, it } from "vitest";
import { DEFAULT_DATA_DIR } from "../../classifier/paths.ts";
import { cosafe } from "./cosafe.ts";
import { jailbreakTemplates } from "./jailbreak-templates.ts";
import { jbbArtifacts } from "./jbb-artifacts.ts";
import type { ChatMessage, GenItem, SuiteContext } from "./types.ts";

const chars = (messages: ChatMessage[]) => messages.reduce((a, m) => a + m.content.length + 16, 0);
const ctx: SuiteContext = {
  dataDir: DEFAULT_DATA_DIR,
  seed: 0,
  limit: 60,
  shots: 0,
  promptTokens: (m) => Math.ceil(chars(m) / 4),
  maxPromptTokens: (reserve) => 300 - reserve,
  note: () => {},
};

describe("suites that cut requests to fit the context", () => {
  for (const suite of [jailbreakTemplates, jbbArtifacts, cosafe]) {
    it(`${suite.name}: a cut item carries the request as sent, and the model's prompt is its end`, () => {
      const items = suite.load(ctx) as GenItem[];
      // The same items loaded with room for everything: nothing cut, and each is what the cut one says was sent.
      const uncut = new Map((suite.load({ ...ctx, maxPromptTokens: () => 1e9 }) as GenItem[]).map((x) => [x.id, x]));
      const cut = items.filter((x) => x.truncated);
      expect(cut.length).toBeGreaterThan(5);
      expect(items.length - cut.length).toBeGreaterThan(0);
      for (const x of items.filter((y) => !y.truncated)) expect(x.sent).toBeUndefined();
      for (const x of cut) {
        const sent = x.sent!;
        expect(uncut.get(x.id)!.truncated).toBe(false);
        expect(sent).toEqual(uncut.get(x.id)!.messages);
        expect(ctx.promptTokens(sent)).toBeGreaterThan(ctx.maxPromptTokens(suite.maxTokens ?? 0));
        expect(ctx.promptTokens(x.messages)).toBeLessThanOrEqual(ctx.maxPromptTokens(suite.maxTokens ?? 0));
        // What the model reads is the end of what was sent: the last turn's end, after whole earlier turns.
        const last = x.messages[x.messages.length - 1]!.content;
        expect(sent[sent.length - 1]!.content.endsWith(last)).toBe(true);
        expect(sent.slice(sent.length - x.messages.length, -1)).toEqual(x.messages.slice(0, -1));
      }
    });
  }
});
