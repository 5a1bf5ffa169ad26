import { Template } from "@huggingface/jinja";
import { describe, expect, it } from "vitest";
import type { ChatMessage } from "./chat.ts";
import { applySystemRole, mergeSystemMessages, systemRoleRejection } from "./system-role.ts";
import { readTemplate } from "./test-families.ts";

const sys = (content: string): ChatMessage => ({ role: "system", content });
const user = (content: string): ChatMessage => ({ role: "user", content });
const assistant = (content: string): ChatMessage => ({ role: "assistant", content });
const renderer = (template: string) => (messages: ChatMessage[]) => new Template(template).render({ messages, bos_token: "<bos>" });

describe("systemRoleRejection", () => {
  it("finds Gemma's rejection, once per template", () => {
    const gemma = readTemplate("google-gemma-2-2b-it");
    let calls = 0;
    const tryRender = (messages: ChatMessage[]) => {
      calls++;
      return renderer(gemma)(messages);
    };
    expect(systemRoleRejection(gemma, tryRender)).toBe("System role not supported");
    expect(systemRoleRejection(gemma, tryRender)).toBe("System role not supported");
    expect(calls).toBe(2); // the probe pair, the first time only
  });

  it("templates that take, or silently drop, system messages do not reject them", () => {
    const takes = "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}";
    const drops = "{% for m in messages %}{% if m.role == 'user' %}{{ m.content }}{% endif %}{% endfor %}";
    for (const t of [takes, drops]) expect(systemRoleRejection(t, renderer(t))).toBeUndefined();
  });

  it("a template that fails for every conversation is not said to reject the system role", () => {
    const broken = "{{ raise_exception('broken') }}";
    expect(systemRoleRejection(broken, renderer(broken))).toBeUndefined();
  });
});

describe("mergeSystemMessages", () => {
  it("prepends system content to the next user message with a blank line, keeping other fields", () => {
    const named = { role: "user", content: "Hi", name: "ann" };
    expect(mergeSystemMessages([sys("Be brief."), named, assistant("Hello")])).toEqual([
      { role: "user", content: "Be brief.\n\nHi", name: "ann" },
      assistant("Hello"),
    ]);
  });

  it("joins consecutive system messages, and merges a later one into the user message after it", () => {
    const merged = mergeSystemMessages([sys("A"), sys("B"), user("1"), assistant("2"), sys("C"), user("3")]);
    expect(merged).toEqual([user("A\n\nB\n\n1"), assistant("2"), user("C\n\n3")]);
  });

  it("a system message not directly followed by a user message is an error naming it", () => {
    expect(() => mergeSystemMessages([sys("A"), assistant("x"), user("y")])).toThrow(
      'chat template: this model has no system role, so a system message is merged into the user message after it, but the system message at index 0 is followed by a "assistant" message',
    );
    expect(() => mergeSystemMessages([user("x"), sys("A"), sys("B")])).toThrow(/the system message at index 1 is the last message$/);
  });
});

describe("applySystemRole", () => {
  const messages = [sys("A"), user("x")];

  it("leaves conversations alone when the template takes system messages or there is none", () => {
    expect(applySystemRole(messages, undefined, "error")).toBe(messages);
    const noSystem = [user("x")];
    expect(applySystemRole(noSystem, "System role not supported", "error")).toBe(noSystem);
  });

  it("merges by default, or fails with the template's reason", () => {
    expect(applySystemRole(messages, "System role not supported")).toEqual([user("A\n\nx")]);
    expect(() => applySystemRole(messages, "System role not supported", "error")).toThrow(
      "chat template: System role not supported (this model has no system role; send the instructions in a user message)",
    );
  });
});
