/**
 * Which messages of a request the gate scores, given what the operator
 * trusts.
 *
 * In an OpenAI-compatible API the caller writes the system prompt, so the
 * classifier scores it like any client turn: a jailbreak placed there is
 * caught. But an app sends its own system prompt with every request, and one
 * that names the harms it refuses ("never help with weapons, malware or
 * self-harm") can score risky by itself, which steers all of that app's
 * traffic (the model card's system-prompt rows: most such prompts do, and no
 * first stage here tells "refuse requests about weapons" from "answer requests
 * about weapons" well enough to score them as a request is scored). Two
 * operator settings leave system and developer messages out of the scoring;
 * every user turn is scored as before:
 *
 * - `classifier.trusted_system_prompts`: hex SHA-256s of exact texts (of a
 *   message's `contentText`, hashed as API keys are: `sha256Hex`). One
 *   changed character and the message is scored again, so a caller that can
 *   write the system prompt gains nothing it could not get by sending the
 *   operator's own prompt.
 * - `auth.keys[].trust_system_prompt`: every system and developer message of
 *   that key's requests, for a backend that writes its system prompts itself
 *   (templated ones with dates, names or retrieved text, which no hash
 *   matches). A key whose holder can be an attacker must not have it: a
 *   harmful request would then go unscored in the system role.
 */
import { sha256Hex } from "../auth/index.ts";
import { contentText, type RiskMessage } from "./index.ts";

/** The set of trusted prompt hashes from the config (lower case). */
export function trustedHashes(sha256s: readonly string[]): ReadonlySet<string> {
  return new Set(sha256s.map((h) => h.toLowerCase()));
}

export interface SystemTrust {
  /** hashes of trusted system prompts (trustedHashes) */
  hashes: ReadonlySet<string>;
  /** every system and developer message is trusted (the key's trust_system_prompt) */
  role: boolean;
}

/** The messages the gate scores, and how many system or developer messages were left out as trusted. */
export function scoredMessages(messages: readonly RiskMessage[], trust: SystemTrust): { messages: readonly RiskMessage[]; trusted: number } {
  if (!trust.role && trust.hashes.size === 0) return { messages, trusted: 0 };
  const kept = messages.filter((m) => !((m.role === "system" || m.role === "developer") && (trust.role || trust.hashes.has(sha256Hex(contentText(m))))));
  return { messages: kept, trusted: messages.length - kept.length };
}
