/**
 * A request's input to prompt token ids, in two steps:
 *
 * 1. promptText: the checks and the chat template. A conversation to a model
 *    without a template, an empty one, and a prompt too long for the context
 *    (tokenizer/prompt-bound.ts) are refused here, before tokenizing; what
 *    is left is text parts and the template's special-token ids.
 * 2. encodePrompt: the tokenizer's BPE over those parts, the costly step,
 *    which the tokenizer thread (tokenizer-thread.ts) runs for long prompts.
 *
 * So every refusal comes from the engine's own thread, at once, and a prompt
 * that is refused never starts the tokenizer thread.
 */
import { status } from "@grpc/grpc-js";
import type { GenerateRequest } from "../../proto/gen/steerguard/v1/sidecar.ts";
import { SidecarError } from "../server/backend.ts";
import { chatParts, type SystemRole } from "../tokenizer/chat.ts";
import type { PromptBound } from "../tokenizer/prompt-bound.ts";
import type { EncodePart, Tokenizer } from "../tokenizer/types.ts";

export type PromptInput = GenerateRequest["input"];

/** What encoding a prompt needs of the model. */
export interface PromptEncoding {
  tokenizer: Tokenizer;
  /** The manifest's chat template (null: raw prompts only). */
  chatTemplate: string | null;
  /** Rejects, before tokenizing, a prompt too long to fit the context (tokenizer/prompt-bound.ts). */
  bound: PromptBound;
  systemRole?: SystemRole;
  /** The model's id, for the error of a conversation sent to a model without a chat template. */
  modelId: string;
}

/** A prompt that passed the checks, ready for Tokenizer.encodeParts. */
export interface PromptText {
  parts: EncodePart[];
  /** undefined: the tokenizer's own setting (a raw prompt). */
  addBos?: boolean;
}

const invalid = (message: string) => new SidecarError(status.INVALID_ARGUMENT, message);

/** A request's input checked and split for the tokenizer; INVALID_ARGUMENT for input the model cannot take. */
export function promptText(e: PromptEncoding, input: PromptInput): PromptText {
  if (input?.$case === "conversation") {
    const messages = input.value.messages.map((m) => ({ role: m.role, content: m.content }));
    if (messages.length === 0) throw invalid("conversation has no messages");
    if (!e.chatTemplate) throw invalid(`model ${e.modelId} has no chat template; send a raw prompt instead`);
    const checkText = (text: string) => e.bound.check(text);
    try {
      return chatParts(e.tokenizer, e.chatTemplate, messages, { addGenerationPrompt: true, systemRole: e.systemRole, checkText });
    } catch (err) {
      throw invalid((err as Error).message);
    }
  }
  if (input?.$case === "prompt") {
    try {
      e.bound.check(input.value);
    } catch (err) {
      throw invalid((err as Error).message);
    }
    return { parts: [input.value] };
  }
  throw invalid("request has neither a conversation nor a prompt");
}

/** The ids of a checked prompt: Tokenizer.encode for a raw prompt, encodeChat for a conversation. */
export function encodePrompt(tokenizer: Tokenizer, text: PromptText): number[] {
  return tokenizer.encodeParts(text.parts, { addBos: text.addBos });
}

/** Prompt token ids for a request's input; INVALID_ARGUMENT for input the model cannot take. */
export function promptIds(e: PromptEncoding, input: PromptInput): number[] {
  return encodePrompt(e.tokenizer, promptText(e, input));
}

/** Characters of text a checked prompt gives the tokenizer. */
export function textChars(text: PromptText): number {
  let n = 0;
  for (const p of text.parts) if (typeof p === "string") n += p.length;
  return n;
}

/** Characters of text an input carries: what the tokenizer has to read (the replicas' router sizes prompts by it too). */
export function promptChars(input: PromptInput): number {
  if (input?.$case === "prompt") return input.value.length;
  if (input?.$case === "conversation") return input.value.messages.reduce((n, m) => n + m.content.length, 0);
  return 0;
}
