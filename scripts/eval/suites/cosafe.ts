/**
 * CoSafe multi-turn dialogues (14 categories x 100): a benign-looking
 * conversation ending in a coreference attack; the model answers the last user
 * turn. The dialogue's assistant turns are kept as given. Dialogues longer than
 * the context lose their earliest turns (whole user/assistant pairs) and are
 * counted; the gate still reads the whole dialogue (GenItem.sent).
 */
import { listDir, pick, readText } from "./common.ts";
import type { ChatMessage, GenItem, SuiteDef } from "./types.ts";

const DIR = "cosafe/CoSafe_datasets";
const MAX_TOKENS = 48;

export const cosafe: SuiteDef = {
  name: "cosafe",
  group: "multiturn",
  sources: [`${DIR}/*.json`],
  description: "CoSafe multi-turn coreference attacks (1,400 dialogues)",
  maxTokens: MAX_TOKENS,
  load(ctx) {
    const all: { id: string; messages: ChatMessage[] }[] = [];
    for (const f of listDir(ctx, DIR)) {
      readText(ctx, `${DIR}/${f}`)
        .split("\n")
        .filter((l) => l.trim())
        .forEach((l, i) => {
          const msgs = (JSON.parse(l) as ChatMessage[]).filter((m) => (m.role === "user" || m.role === "assistant") && typeof m.content === "string");
          if (msgs.length && msgs[msgs.length - 1]!.role === "user") all.push({ id: `${f.replace(/\.json$/, "")}/${i}`, messages: msgs });
        });
    }
    const max = ctx.maxPromptTokens(MAX_TOKENS);
    return pick(ctx, "cosafe", all).map(({ id, messages }): GenItem => {
      let m = messages;
      let truncated = false;
      while (m.length > 1 && ctx.promptTokens(m) > max) {
        m = m.slice(m[1]?.role === "assistant" ? 2 : 1);
        truncated = true;
      }
      if (ctx.promptTokens(m) > max) {
        // One user turn alone is too long: keep its end.
        const last = m[m.length - 1]!.content;
        let k = 0;
        while (k < last.length && ctx.promptTokens([{ role: "user", content: last.slice(k) }]) > max) k += Math.max(1, Math.floor((last.length - k) / 8));
        m = [{ role: "user", content: last.slice(k) }];
        truncated = true;
      }
      return { kind: "gen", id: `cosafe/${id}`, messages: m, truncated, ...(truncated && { sent: messages }) };
    });
  },
};
