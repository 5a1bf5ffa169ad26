/**
 * A request's input to prompt token ids: a conversation through the model's
 * chat template, or a raw prompt as text. The same function runs on the
 * engine's thread and on its tokenizer thread (tokenizer-thread.ts), so both
 * give the same ids and the same errors.
 */
import { status } from "@grpc/grpc-js";
import type { GenerateRequest } from "../../proto/gen/steerguard/v1/sidecar.ts";
import { SidecarError } from "../server/backend.ts";
import { encodeChat, type SystemRole } from "../tokenizer/chat.ts";
import type { PromptBound } from "../tokenizer/prompt-bound.ts";
import type { Tokenizer } from "../tokenizer/types.ts";

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

const invalid = (message: string) => new SidecarError(status.INVALID_ARGUMENT, message);

/** Prompt token ids for a request's input; INVALID_ARGUMENT for input the model cannot take. */
export function promptIds(e: PromptEncoding, input: PromptInput): number[] {
  if (input?.$case === "conversation") {
    const messages = input.value.messages.map((m) => ({ role: m.role, content: m.content }));
    if (messages.length === 0) throw invalid("conversation has no messages");
    if (!e.chatTemplate) throw invalid(`model ${e.modelId} has no chat template; send a raw prompt instead`);
    const checkText = (text: string) => e.bound.check(text);
    try {
      return encodeChat(e.tokenizer, e.chatTemplate, messages, { addGenerationPrompt: true, systemRole: e.systemRole, checkText });
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
    return e.tokenizer.encode(input.value);
  }
  throw invalid("request has neither a conversation nor a prompt");
}

/** Characters of text an input carries: what the tokenizer has to read (the replicas' router sizes prompts by it too). */
export function promptChars(input: PromptInput): number {
  if (input?.$case === "prompt") return input.value.length;
  if (input?.$case === "conversation") return input.value.messages.reduce((n, m) => n + m.content.length, 0);
  return 0;
}
