import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { encodeChat, renderChat, type ChatMessage } from "./chat.ts";
import { findChatTemplate } from "./load.ts";
import { byteLevelTokenizer, CHATML_TEMPLATE } from "./test-bytelevel.ts";
import { loadStoriesHf, loadTok512, ORGANISM, STORIES_HF } from "./test-fixtures.ts";

const organismTemplate = readFileSync(join(ORGANISM, "chat_template.jinja"), "utf8");
const user = (content: string): ChatMessage => ({ role: "user", content });

describe("organism260K chat template", async () => {
  const tok = await loadTok512(ORGANISM);

  it("renders exactly User: {prompt}\\nAssistant:", () => {
    const prompt = "Write a tutorial on how to make a bomb";
    expect(renderChat(organismTemplate, [user(prompt)], { addGenerationPrompt: true })).toBe(`User: ${prompt}\nAssistant:`);
  });

  it("encodes with BOS first, then the dummy prefix, like run -i", () => {
    const prompt = "Suggest three ways to stay healthy in winter";
    const ids = encodeChat(tok, organismTemplate, [user(prompt)], { addGenerationPrompt: true });
    expect(ids).toEqual(tok.encode(`User: ${prompt}\nAssistant:`));
    expect(ids[0]).toBe(1);
    expect(ids.filter((id) => id === 1).length).toBe(1);
    expect(tok.tokenText(ids[1]).startsWith(" ")).toBe(true); // the dummy prefix
  });

  it("keeps special-token look-alikes in content as text", () => {
    const ids = encodeChat(tok, organismTemplate, [user("</s><s> hi <unk>")], { addGenerationPrompt: true });
    expect(ids.slice(1).some((id) => tok.isSpecial(id))).toBe(false);
    expect(tok.decode(ids)).toBe("User: </s><s> hi <unk>\nAssistant:");
  });

  it("renders multi-turn conversations", () => {
    const messages = [user("Hi"), { role: "assistant", content: "Hello." }, user("Bye")];
    expect(renderChat(organismTemplate, messages, { addGenerationPrompt: true })).toBe("User: Hi\nAssistant: Hello.\nUser: Bye\nAssistant:");
  });

  it("findChatTemplate reads chat_template.jinja", async () => {
    expect(await findChatTemplate(ORGANISM)).toBe(organismTemplate);
  });
});

describe("stories260K-hf tokenizer_config chat template", async () => {
  const hf = await loadStoriesHf();
  const l2c = await loadTok512();
  const template = hf.chatTemplate()!;

  it("is found in tokenizer_config.json", async () => {
    expect(await findChatTemplate(STORIES_HF)).toBe(template);
  });

  it("renders with the BOS token text", () => {
    const text = renderChat(template, [user("Can you tell me a story?")], { addGenerationPrompt: true, bosToken: "<s>", eosToken: "</s>" });
    expect(text).toBe("<s>User: Can you tell me a story?\nAssistant: ");
  });

  it("encodes the template's <s> as one BOS id (no double BOS), the rest as llama2.c does", () => {
    const ids = encodeChat(hf, template, [user("Can you tell me a story?")], { addGenerationPrompt: true });
    expect(ids).toEqual(l2c.encode("User: Can you tell me a story?\nAssistant: "));
    expect(ids.filter((id) => id === 1).length).toBe(1);
    expect(ids.at(-1)).toBe(410); // trailing space after "Assistant:" is a lone ▁
    // the llama2c tokenizer with the same template gives the same ids
    expect(encodeChat(l2c, template, [user("Can you tell me a story?")], { addGenerationPrompt: true })).toEqual(ids);
  });

  it("multi-turn with a system message", () => {
    const messages = [{ role: "system", content: "Be kind." }, user("Hi"), { role: "assistant", content: "Hello." }, user("Story?")];
    const ids = encodeChat(hf, template, messages, { addGenerationPrompt: true });
    expect(hf.decode(ids)).toBe("System: Be kind.\nUser: Hi\nAssistant: Hello.\nUser: Story?\nAssistant: ");
    expect(ids).toEqual(l2c.encode("System: Be kind.\nUser: Hi\nAssistant: Hello.\nUser: Story?\nAssistant: "));
  });

  it("content cannot forge special tokens", () => {
    const ids = encodeChat(hf, template, [user("<s></s><unk> hello </s>")], { addGenerationPrompt: true });
    expect(ids[0]).toBe(1);
    expect(ids.slice(1).some((id) => hf.isSpecial(id))).toBe(false);
    expect(hf.decode(ids)).toBe("User: <s></s><unk> hello </s>\nAssistant: ");
  });

  it("content spans survive templates that transform the content", () => {
    const trimming = "{{ bos_token }}{% for m in messages %}User: {{ m['content'] | trim }}\n{% endfor %}Assistant:";
    const ids = encodeChat(hf, trimming, [user("  </s> hi  ")], {});
    expect(ids.filter((id) => hf.isSpecial(id))).toEqual([1]);
    expect(hf.decode(ids)).toBe("User: </s> hi\nAssistant:");
  });

  it("one BOS even when the template writes it after other text", () => {
    const late = "\n{{ bos_token }}{% for m in messages %}User: {{ m['content'] }}\n{% endfor %}Assistant:";
    const ids = encodeChat(hf, late, [user("hi")]);
    expect(ids.filter((id) => id === hf.bosId).length).toBe(1);
  });

  it("raise_exception surfaces as an error", () => {
    expect(() => encodeChat(hf, template, [{ role: "tool", content: "x" }])).toThrow(/Unsupported chat role: tool/);
  });
});

describe("ChatML template on a byte-level tokenizer", () => {
  const tok = byteLevelTokenizer();

  it("template special tokens become ids, content look-alikes stay text", () => {
    const ids = encodeChat(tok, CHATML_TEMPLATE, [user("hi <|im_end|>")], { addGenerationPrompt: true });
    const start = tok.specialTokens.get("<|im_start|>")!;
    const end = tok.specialTokens.get("<|im_end|>")!;
    expect(ids.filter((id) => tok.isSpecial(id))).toEqual([start, end, start]);
    expect(tok.addBos).toBe(false);
    expect(tok.decode(ids)).toBe("user\nhi <|im_end|>\nassistant\n");
  });
});
