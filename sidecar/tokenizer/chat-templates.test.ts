/**
 * The checkpoints' own chat templates (templates/, sources in its README)
 * render known conversations to the strings their documented formats give.
 * The expected strings are written out by hand.
 */
import { createHash } from "node:crypto";
import { Template } from "@huggingface/jinja";
import { describe, expect, it } from "vitest";
import { renderChat, type ChatMessage, type ChatOptions } from "./chat.ts";
import { readTemplate } from "./test-families.ts";

const SYSTEM: ChatMessage = { role: "system", content: "You are a helpful assistant." };
const TURNS: ChatMessage[] = [
  { role: "user", content: "Hello!" },
  { role: "assistant", content: "Hi there. How can I help?" },
  { role: "user", content: "What is 2+2?" },
];
const CONVERSATION = [SYSTEM, ...TURNS];
const prompt: ChatOptions = { addGenerationPrompt: true };

/** sha256 of each fixture: the published strings, byte for byte (templates/README.md). */
const FIXTURE_SHA256: Record<string, string> = {
  "Qwen-Qwen2-7B-Instruct": "793202280c0910ab26bc6eb57c8212c2417324c6d8c4efd0d10d59092ab3e3eb",
  "google-gemma-2-2b-it": "ecd6ae513fe103f0eb62e8ab5bfa8d0fe45c1074fa398b089c93a7e70c15cfd6",
  "meta-llama-Llama-3.1-8B-Instruct": "e10ca381b1ccc5cf9db52e371f3b6651576caee0a630b452e2816b2d404d4b65",
  "meta-llama-Llama-3.2-3B-Instruct": "5816fce10444e03c2e9ee1ef8a4a1ea61ae7e69e438613f3b17b69d0426223a4",
  "meta-llama-Meta-Llama-3-8B-Instruct": "ba03a121d097859c7b5b9cd03af99aafe95275210d2876f642ad9929a150f122",
  "microsoft-Phi-3-mini-4k-instruct": "dcaee66df77bfbb789ec541fe713218da30225a526f1db97138fc39ee6dc56aa",
  "microsoft-Phi-3.5-mini-instruct": "78d976a442bcde2f0be15aafbb8e3050e1104f86732266f68403251b89982a90",
  "mistralai-Mistral-7B-Instruct-v0.3": "e16746b40344d6c5b5265988e0328a0bf7277be86f1c335156eae07e29c82826",
};

describe("template fixtures", () => {
  it("are byte-identical to the published templates", () => {
    for (const [name, sha] of Object.entries(FIXTURE_SHA256)) {
      expect(createHash("sha256").update(readTemplate(name)).digest("hex"), name).toBe(sha);
    }
  });
});

describe("Phi-3 mini (4k, 128k) and Phi-3.5 mini", () => {
  const phi3 = readTemplate("microsoft-Phi-3-mini-4k-instruct");
  const phi35 = readTemplate("microsoft-Phi-3.5-mini-instruct");
  const tokens = { bosToken: "<s>", eosToken: "<|endoftext|>" };
  const expected =
    "<|system|>\nYou are a helpful assistant.<|end|>\n" +
    "<|user|>\nHello!<|end|>\n" +
    "<|assistant|>\nHi there. How can I help?<|end|>\n" +
    "<|user|>\nWhat is 2+2?<|end|>\n" +
    "<|assistant|>\n";

  it("renders <|role|>\\n…<|end|>\\n turns and the assistant prompt", () => {
    expect(renderChat(phi3, CONVERSATION, { ...prompt, ...tokens })).toBe(expected);
    expect(renderChat(phi35, CONVERSATION, { ...prompt, ...tokens })).toBe(expected);
  });

  it("without a generation prompt it ends with EOS; no BOS is written", () => {
    const done = expected.slice(0, -"<|assistant|>\n".length) + "<|endoftext|>";
    expect(renderChat(phi3, CONVERSATION, tokens)).toBe(done);
    expect(renderChat(phi35, CONVERSATION, tokens)).toBe(done);
  });

  it("Phi-3.5 skips an empty system message, Phi-3 keeps it", () => {
    const empty = [{ role: "system", content: "" }, TURNS[0]!];
    expect(renderChat(phi35, empty, prompt)).toBe("<|user|>\nHello!<|end|>\n<|assistant|>\n");
    expect(renderChat(phi3, empty, prompt)).toBe("<|system|>\n<|end|>\n<|user|>\nHello!<|end|>\n<|assistant|>\n");
  });
});

describe("Llama 3 / 3.1 / 3.2 instruct", () => {
  const bos = { bosToken: "<|begin_of_text|>", eosToken: "<|eot_id|>" };
  const turns =
    "<|start_header_id|>user<|end_header_id|>\n\nHello!<|eot_id|>" +
    "<|start_header_id|>assistant<|end_header_id|>\n\nHi there. How can I help?<|eot_id|>" +
    "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>" +
    "<|start_header_id|>assistant<|end_header_id|>\n\n";
  const preamble = "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n";

  it("Llama 3: header ids around each role, <|eot_id|> after each turn", () => {
    const text = renderChat(readTemplate("meta-llama-Meta-Llama-3-8B-Instruct"), CONVERSATION, { ...prompt, ...bos });
    expect(text).toBe(`<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|>${turns}`);
  });

  it("Llama 3.1: the system header carries the knowledge-cutoff preamble (date_string defaults to 26 Jul 2024)", () => {
    const t = readTemplate("meta-llama-Llama-3.1-8B-Instruct");
    const header = "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n";
    expect(renderChat(t, CONVERSATION, { ...prompt, ...bos })).toBe(`${header}${preamble}You are a helpful assistant.<|eot_id|>${turns}`);
    // no system message: the header is still there, with the preamble only
    expect(renderChat(t, TURNS, { ...prompt, ...bos })).toBe(`${header}${preamble}<|eot_id|>${turns}`);
    const dated = renderChat(t, CONVERSATION, { ...prompt, ...bos, extra: { date_string: "01 Jan 2025" } });
    expect(dated).toContain("Today Date: 01 Jan 2025\n\n");
  });

  it("Llama 3.2: date_string when given, else strftime_now('%d %b %Y') in English", () => {
    const t = readTemplate("meta-llama-Llama-3.2-3B-Instruct");
    const header = "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n";
    const expected = `${header}${preamble}You are a helpful assistant.<|eot_id|>${turns}`;
    expect(renderChat(t, CONVERSATION, { ...prompt, ...bos, extra: { date_string: "26 Jul 2024" } })).toBe(expected);
    expect(renderChat(t, CONVERSATION, { ...prompt, ...bos, now: new Date(2024, 6, 26, 12) })).toBe(expected);
    expect(renderChat(t, CONVERSATION, { ...prompt, ...bos, now: new Date(2025, 11, 3) })).toContain("Today Date: 03 Dec 2025\n\n");
  });

  it("trims message contents, as the templates say", () => {
    const t = readTemplate("meta-llama-Meta-Llama-3-8B-Instruct");
    expect(renderChat(t, [{ role: "user", content: "  hi \n" }], prompt)).toBe(
      "<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
    );
  });
});

describe("Gemma / Gemma 2 instruct", () => {
  const gemma = readTemplate("google-gemma-2-2b-it");
  const tokens = { bosToken: "<bos>", eosToken: "<eos>" };
  const turns =
    "<start_of_turn>model\nHi there. How can I help?<end_of_turn>\n" +
    "<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n" +
    "<start_of_turn>model\n";

  it("renders <start_of_turn>user / model turns after <bos>", () => {
    expect(renderChat(gemma, TURNS, { ...prompt, ...tokens })).toBe(`<bos><start_of_turn>user\nHello!<end_of_turn>\n${turns}`);
  });

  it("merges a system message into the first user turn (the default)", () => {
    const text = renderChat(gemma, CONVERSATION, { ...prompt, ...tokens });
    expect(text).toBe(`<bos><start_of_turn>user\nYou are a helpful assistant.\n\nHello!<end_of_turn>\n${turns}`);
  });

  it("systemRole 'error' fails with the template's reason", () => {
    expect(() => renderChat(gemma, CONVERSATION, { ...prompt, systemRole: "error" })).toThrow(
      /^chat template: System role not supported \(this model has no system role; send the instructions in a user message\)$/,
    );
  });

  it("a system message with no user message right after it is a clear error", () => {
    expect(() => renderChat(gemma, [SYSTEM], prompt)).toThrow(/no system role.*the system message at index 0 is the last message/);
    const late = [...TURNS, SYSTEM, { role: "assistant", content: "Four." }];
    expect(() => renderChat(gemma, late, prompt)).toThrow(/the system message at index 3 is followed by a "assistant" message/);
  });

  it("the template's own alternation rule still applies", () => {
    expect(() => renderChat(gemma, [TURNS[1]!], prompt)).toThrow(/^chat template: Conversation roles must alternate/);
  });
});

describe("Mistral 7B instruct v0.3 and Qwen2 instruct", () => {
  it("Mistral puts the system message into the last user turn", () => {
    const text = renderChat(readTemplate("mistralai-Mistral-7B-Instruct-v0.3"), CONVERSATION, { bosToken: "<s>", eosToken: "</s>" });
    expect(text).toBe("<s>[INST] Hello![/INST] Hi there. How can I help?</s>[INST] You are a helpful assistant.\n\nWhat is 2+2?[/INST]");
  });

  it("Qwen2 is ChatML, with a default system message when none is given", () => {
    const t = readTemplate("Qwen-Qwen2-7B-Instruct");
    const expected =
      "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n" +
      "<|im_start|>user\nHello!<|im_end|>\n" +
      "<|im_start|>assistant\nHi there. How can I help?<|im_end|>\n" +
      "<|im_start|>user\nWhat is 2+2?<|im_end|>\n" +
      "<|im_start|>assistant\n";
    expect(renderChat(t, CONVERSATION, prompt)).toBe(expected);
    expect(renderChat(t, TURNS, prompt)).toBe(expected); // the default is the same text
  });
});

describe("Jinja features these templates use, in @huggingface/jinja", () => {
  const run = (source: string, vars: Record<string, unknown> = {}) => new Template(source).render(vars);

  it("namespace() with attribute assignment (Mistral v0.3)", () => {
    expect(run("{% set ns = namespace() %}{% set ns.i = 0 %}{% for x in xs %}{% set ns.i = ns.i + x %}{% endfor %}{{ ns.i }}", { xs: [1, 2, 3] })).toBe("6");
  });

  it("tojson with indent (Llama 3.1 / 3.2 tools)", () => {
    expect(run("{{ x | tojson(indent=4) }}", { x: { a: [1] } })).toBe('{\n    "a": [\n        1\n    ]\n}');
  });

  it("loop controls, filtered for-loops, selectattr('equalto'), slicing", () => {
    expect(run("{% for x in xs %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}", { xs: [1, 2, 3, 4, 5] })).toBe("13");
    expect(run("{% for k, v in d.items() if k != 'b' %}{{ k }}{% endfor %}", { d: { a: 1, b: 2, c: 3 } })).toBe("ac");
    const roles = { ms: [{ role: "user" }, { role: "assistant" }, { role: "user" }], s: "abc}" };
    expect(run("{{ ms | selectattr('role', 'equalto', 'user') | list | length }}|{{ s[:-1] }}", roles)).toBe("2|abc");
  });

  it("known gap: no `reject` filter, so Llama 3.1's builtin_tools branch cannot render", () => {
    // Only reached when a caller passes builtin_tools; the sidecar passes messages only.
    const t = readTemplate("meta-llama-Llama-3.1-8B-Instruct");
    expect(() => renderChat(t, TURNS, { extra: { builtin_tools: ["brave_search", "code_interpreter"] } })).toThrow(/Unknown ArrayValue filter: reject/);
  });

  it("trim_blocks / lstrip_blocks, as transformers configures Jinja", () => {
    expect(run("{% if true %}\n  a\n{% endif %}\n  {% if true %}b{% endif %}")).toBe("  a\nb");
  });
});
