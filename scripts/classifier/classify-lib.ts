/** Input validation for the classify CLI (kept apart so tests can import it). */
import type { ChatMessage } from "../../edge/classifier/model.ts";

/** Validates one parsed line; returns the thing to score or an error message. */
export function parseLine(line: string): { prompt: string } | { messages: ChatMessage[] } | { error: string } {
  if (!line.trim()) return { error: "empty line" };
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (e) {
    return { error: `invalid JSON: ${e instanceof Error ? e.message : String(e)}` };
  }
  if (!v || typeof v !== "object" || Array.isArray(v)) return { error: "expected a JSON object" };
  const o = v as Record<string, unknown>;
  if ("prompt" in o && o.prompt !== undefined) {
    if (typeof o.prompt !== "string") return { error: '"prompt" must be a string' };
    return { prompt: o.prompt };
  }
  if ("messages" in o && o.messages !== undefined) {
    if (!Array.isArray(o.messages) || o.messages.length === 0) return { error: '"messages" must be a non-empty array' };
    for (let i = 0; i < o.messages.length; i++) {
      const m = o.messages[i] as Record<string, unknown> | null;
      if (!m || typeof m !== "object" || typeof m.role !== "string") return { error: `messages[${i}] needs a string "role"` };
      const c = m.content;
      const okParts = Array.isArray(c) && c.every((p) => typeof p === "string" || (p !== null && typeof p === "object"));
      if (!(c === undefined || c === null || typeof c === "string" || okParts)) {
        return { error: `messages[${i}].content must be a string or an array of content parts` };
      }
    }
    return { messages: o.messages as ChatMessage[] };
  }
  return { error: 'expected a "prompt" string or a "messages" array' };
}

