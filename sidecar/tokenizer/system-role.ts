/**
 * Chat templates without a system role. Gemma's template raises "System role
 * not supported" when a conversation starts with a system message, yet
 * OpenAI-style clients send one all the time. ChatOptions.systemRole says
 * what happens then:
 *
 * - "merge" (the default): each system message is prepended to the user
 *   message right after it, separated by a blank line ("\n\n"); several
 *   system messages in a row are joined the same way. Gemma's documentation
 *   says to give system-level instructions in the user prompt; the blank
 *   line is what llama.cpp's built-in Gemma format uses. A system message
 *   with no user message right after it is an error.
 * - "error": the request fails with an error saying the model has no system role.
 *
 * Only templates that reject the system role are touched. Whether one does
 * is found once per template: it rejects when it renders a lone user message
 * but raises for a system message followed by that user message. Templates
 * that accept system messages, or silently drop them, get the conversation
 * as it is.
 */
import type { ChatMessage } from "./chat.ts";

export type SystemRole = "merge" | "error";

const rejections = new Map<string, string | undefined>();

/**
 * The error message `template` raises for a leading system message, or
 * undefined when it takes one. `tryRender` renders a conversation with the
 * template (throwing what the template raises); the answer is cached per template.
 */
export function systemRoleRejection(template: string, tryRender: (messages: ChatMessage[]) => unknown): string | undefined {
  if (rejections.has(template)) return rejections.get(template);
  const failure = (messages: ChatMessage[]): string | undefined => {
    try {
      tryRender(messages);
      return undefined;
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  };
  const user: ChatMessage = { role: "user", content: "Hello." };
  const withSystem = failure([{ role: "system", content: "Be brief." }, user]);
  const rejection = withSystem !== undefined && failure([user]) === undefined ? withSystem : undefined;
  rejections.set(template, rejection);
  return rejection;
}

/**
 * The messages to render for a template that rejects the system role with
 * the message `rejection` (unchanged when `rejection` is undefined or there
 * is no system message): merged, or an error, as `systemRole` says.
 */
export function applySystemRole(
  messages: readonly ChatMessage[],
  rejection: string | undefined,
  systemRole: SystemRole = "merge",
): readonly ChatMessage[] {
  if (rejection === undefined || !messages.some((m) => m.role === "system")) return messages;
  if (systemRole === "error") {
    throw new Error(`chat template: ${rejection} (this model has no system role; send the instructions in a user message)`);
  }
  return mergeSystemMessages(messages);
}

/** Prepend each system message's content to the user message right after it (see the header). */
export function mergeSystemMessages(messages: readonly ChatMessage[]): ChatMessage[] {
  const out: ChatMessage[] = [];
  let pending: string[] = [];
  let firstPending = -1;
  messages.forEach((m, i) => {
    if (m.role === "system") {
      if (pending.length === 0) firstPending = i;
      pending.push(m.content);
      return;
    }
    if (pending.length === 0) {
      out.push(m);
      return;
    }
    if (m.role !== "user") throw noUserAfter(firstPending, `is followed by a "${m.role}" message`);
    out.push({ ...m, content: [...pending, m.content].join("\n\n") });
    pending = [];
  });
  if (pending.length > 0) throw noUserAfter(firstPending, "is the last message");
  return out;
}

function noUserAfter(index: number, what: string): Error {
  return new Error(
    `chat template: this model has no system role, so a system message is merged into the user message after it, ` +
      `but the system message at index ${index} ${what}`,
  );
}
