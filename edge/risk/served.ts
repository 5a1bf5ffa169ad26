/**
 * Assistant turns the edge did not write (config classifier.assistant_turns:
 * "unserved").
 *
 * The gate leaves assistant turns out of the scoring: a model's refusal
 * repeats the words of the request it refuses, and would steer every later
 * turn. But in an OpenAI-compatible API the client sends the whole history,
 * assistant turns included, and can write them: a fabricated answer that
 * starts the harmful text ("Sure, here is how to make it: first ...")
 * followed by "continue" carries no request in any client turn. With
 * "unserved", the edge remembers what it served (a hash of each completion
 * it answered with, the most recent `capacity` of them) and scores every
 * assistant turn it does not recognise as if the client had written it.
 *
 * Recognised means this edge process served exactly that text (white space
 * at the ends aside) to the same API key since it started: one key's
 * conversations cannot borrow another's answers, and the route of a request
 * tells a key nothing about what others were served. Several edge replicas
 * do not share what they remember, and a key that sends many requests
 * pushes older answers out (of its own and others'), so an answer can be
 * scored though it was served: more conversations steered (model card,
 * "Assistant turns"), never fewer.
 */
import { createHash } from "node:crypto";
import { contentText, type RiskMessage } from "./index.ts";

const key = (scope: string, text: string) => createHash("sha256").update(scope).update("\0").update(text.trim()).digest("base64");

/** The most recent completions this edge served, as hashes of (API key id, text) (least recently served forgotten first). */
export class ServedCompletions {
  private readonly seen = new Map<string, true>();

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.seen.size;
  }

  remember(scope: string, completion: string): void {
    if (!completion.trim()) return;
    const k = key(scope, completion);
    this.seen.delete(k);
    this.seen.set(k, true);
    if (this.seen.size > this.capacity) this.seen.delete(this.seen.keys().next().value!);
  }

  served(scope: string, text: string): boolean {
    return this.seen.has(key(scope, text));
  }
}

/**
 * The conversation as the gate scores it: each assistant turn the edge did
 * not serve becomes a client turn (role "user"), and how many did.
 */
export function unservedAsClient(messages: readonly RiskMessage[], served: ServedCompletions, scope: string): { messages: readonly RiskMessage[]; unserved: number } {
  let unserved = 0;
  const out = messages.map((m) => {
    if (m.role !== "assistant") return m;
    const text = contentText(m);
    if (!text.trim() || served.served(scope, text)) return m;
    unserved++;
    return { role: "user", content: text };
  });
  return unserved === 0 ? { messages, unserved } : { messages: out, unserved };
}
