/** What a suite loader returns, and the context it gets. */
import type { ChatMessage } from "../../../sidecar/tokenizer/chat.ts";

export type { ChatMessage };

/**
 * harmful / jailbreak / multiturn: refusal rate, higher is safer.
 * overrefusal: refusal rate on safe prompts, lower is better.
 * check: XSTest unsafe contrasts (should be refused), reported, not headline.
 * capability: accuracy.
 */
export type SuiteGroup = "harmful" | "jailbreak" | "multiturn" | "overrefusal" | "check" | "capability";

/** A prompt to generate a response to (refusal suites, GSM8K). */
export interface GenItem {
  kind: "gen";
  id: string;
  messages: ChatMessage[];
  /** GSM8K: the normalised gold answer. */
  gold?: string;
  /** The prompt was cut to fit the context (jailbreak templates: from the left; dialogues: earliest turns). */
  truncated?: boolean;
  /**
   * With `truncated`: the request as the client sent it, before the cut. The
   * selective arm's gate reads this (an edge reads the whole request; only the
   * offline model's short context makes the cut), the model the cut `messages`.
   */
  sent?: ChatMessage[];
  /** On-topic suites: the response is on-topic when it names one of these (see on-topic.ts). */
  keywords?: string[];
}

/** A multiple-choice question scored by continuation log-likelihood. */
export interface McItem {
  kind: "mc";
  id: string;
  /** The prompt (chat-formatted with a generation prompt); each choice is the assistant's continuation. */
  messages: ChatMessage[];
  choices: string[];
  answer: number;
  /** Few-shot examples in the prompt (from the dev split). */
  shots: number;
}

/** A text scored token by token as the assistant's answer to `messages` (perplexity suites). */
export interface PplItem {
  kind: "ppl";
  id: string;
  /** The request (chat-formatted with a generation prompt); `text` is the assistant's continuation. */
  messages: ChatMessage[];
  text: string;
}

export type Item = GenItem | McItem | PplItem;

/**
 * How a suite is scored: refusal rate, accuracy (MC / exact match / on-topic
 * rate), or perplexity (exp of the mean negative log-likelihood per token).
 */
export type Metric = "refusal" | "accuracy" | "perplexity";

export interface SuiteContext {
  dataDir: string;
  seed: number;
  /** Items per suite (seeded subset); undefined = all. */
  limit?: number;
  /** Few-shot suites: shots wanted (fewer when they do not fit). */
  shots: number;
  /** Prompt tokens of a chat (generation prompt included). */
  promptTokens(messages: ChatMessage[]): number;
  /** Tokens a prompt may have and still leave room for `reserve` more. */
  maxPromptTokens(reserve: number): number;
  /** Records a note for the report (e.g. items left out because they cannot fit). */
  note(message: string): void;
}

export interface SuiteDef {
  name: string;
  group: SuiteGroup;
  /** Files it reads, relative to the data dir. */
  sources: string[];
  description: string;
  /** Generation length (gen suites). */
  maxTokens?: number;
  /** Overrides the group's metric (capability: accuracy; the rest: refusal). */
  metric?: Metric;
  load(ctx: SuiteContext): Item[];
}
