/**
 * Chat templates: render with @huggingface/jinja, then encode so that
 * (1) special tokens the TEMPLATE writes (`{{ bos_token }}`, `<|im_start|>`,
 *     `{{ eos_token }}` between turns) become their ids, while
 * (2) special-token look-alikes inside MESSAGE CONTENT ("</s>", "<s>") stay
 *     ordinary text, so a user cannot forge control tokens, and
 * (3) there is never a double BOS.
 *
 * How: the template is rendered twice, once with the real contents and once
 * with each string content replaced by a private-use sentinel. Putting the
 * contents back into the sentinel rendering gives the character span of each
 * content in the real rendering (when it does not reproduce the real text,
 * e.g. the template filters the content with `| trim`, every occurrence of
 * each content, and of its trimmed form, is protected instead). The text is
 * then split at special-token strings outside those spans and encoded with
 * Tokenizer.encodeParts.
 *
 * BOS choice: the template's `{{ bos_token }}` text is recognised as the BOS
 * id (not stripped), and BOS is prepended only when the tokenizer's addBos
 * says so AND the rendering has no BOS of its own. So a Llama-2-style
 * template that writes `{{ bos_token }}` gets exactly its one BOS, and a
 * template that does not (organism260K's) still gets BOS first, as the model
 * was trained.
 * (transformers' apply_chat_template never adds BOS itself; for templates
 * that write bos_token, as Llama-2-style ones do, the two agree.)
 *
 * System messages for templates without a system role (Gemma): see
 * system-role.ts. Templates run with transformers' globals, and a
 * `strftime_now` in the C locale: see jinja-env.ts.
 */
import { Template } from "@huggingface/jinja";
import { renderTemplate } from "./jinja-env.ts";
import { splitSpecial, type Span } from "./special-split.ts";
import { applySystemRole, systemRoleRejection, type SystemRole } from "./system-role.ts";
import type { EncodePart, Tokenizer } from "./types.ts";

export type { SystemRole } from "./system-role.ts";

/** A chat turn. Other fields an object carries (name, tool_calls, ...) reach the template unchanged. */
export interface ChatMessage {
  role: string;
  content: string;
}

export interface ChatOptions {
  addGenerationPrompt?: boolean;
  /** Default: the tokenizer's BOS / EOS token text (e.g. "<s>", "</s>"). */
  bosToken?: string;
  eosToken?: string;
  /** More template variables (tools, date_string, ...). */
  extra?: Record<string, unknown>;
  /**
   * What to do with system messages when the template has no system role
   * (it raises for one, as Gemma's does): "merge" (default) prepends them to
   * the next user message, "error" fails. See system-role.ts.
   */
  systemRole?: SystemRole;
  /** The time `strftime_now` reads (default: now). */
  now?: Date;
  /**
   * encodeChat calls it with the rendered text before tokenizing it: a cheap
   * length check (prompt-bound.ts) throws here, so an oversized prompt is
   * never tokenized.
   */
  checkText?: (text: string) => void;
}

const compiled = new Map<string, Template>();

function compile(source: string): Template {
  let t = compiled.get(source);
  if (!t) {
    t = new Template(source);
    compiled.set(source, t);
  }
  return t;
}

/**
 * Render a chat template the way transformers' apply_chat_template does
 * (tokenize=False), after the system-role handling of system-role.ts.
 * Template errors, `raise_exception(msg)` included, throw an Error whose
 * message is prefixed with "chat template: ".
 */
export function renderChat(template: string, messages: readonly ChatMessage[], options: ChatOptions = {}): string {
  const opts = withNow(options);
  return render(template, forTemplate(template, messages, opts), opts);
}

function withNow(options: ChatOptions): ChatOptions {
  return options.now ? options : { ...options, now: new Date() };
}

/** The messages as the template can take them (system messages merged when it has no system role). */
function forTemplate(template: string, messages: readonly ChatMessage[], options: ChatOptions): readonly ChatMessage[] {
  if (!messages.some((m) => m.role === "system")) return messages;
  const rejection = systemRoleRejection(template, (probe) => renderRaw(template, probe, options));
  return applySystemRole(messages, rejection, options.systemRole);
}

function render(template: string, messages: readonly ChatMessage[], options: ChatOptions): string {
  try {
    return renderRaw(template, messages, options);
  } catch (err) {
    throw new Error(`chat template: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

function renderRaw(template: string, messages: readonly ChatMessage[], options: ChatOptions): string {
  const vars = {
    ...options.extra,
    messages,
    add_generation_prompt: options.addGenerationPrompt ?? false,
    bos_token: options.bosToken ?? "",
    eos_token: options.eosToken ?? "",
  };
  return renderTemplate(compile(template), vars, options.now ?? new Date());
}

/** Render and encode a conversation for the model: see the header for special tokens and BOS. */
export function encodeChat(
  tok: Tokenizer,
  template: string,
  messages: readonly ChatMessage[],
  options: ChatOptions = {},
): number[] {
  const { parts, addBos } = chatParts(tok, template, messages, options);
  return tok.encodeParts(parts, { addBos });
}

/** A conversation rendered and split at the template's special tokens: what encodeChat hands Tokenizer.encodeParts. */
export interface ChatParts {
  parts: EncodePart[];
  addBos: boolean;
}

/** encodeChat up to the tokenizing (rendering, checkText, splitting): the cheap part, for a caller that tokenizes elsewhere. */
export function chatParts(
  tok: Tokenizer,
  template: string,
  messages: readonly ChatMessage[],
  options: ChatOptions = {},
): ChatParts {
  const opts: ChatOptions = {
    ...withNow(options),
    bosToken: options.bosToken ?? tokenString(tok, tok.bosId),
    eosToken: options.eosToken ?? tokenString(tok, tok.eosId),
  };
  const rendered = forTemplate(template, messages, opts);
  const text = render(template, rendered, opts);
  options.checkText?.(text);
  const spans = contentSpans(template, rendered, opts, text);
  const parts = splitSpecial(text, tok.specialTokens, spans);
  return { parts, addBos: tok.addBos && !parts.includes(tok.bosId) };
}

function tokenString(tok: Tokenizer, id: number): string {
  return id >= 0 && id < tok.vocabSize ? tok.tokenText(id) : "";
}

const OPEN = "\uE000";
const CLOSE = "\uE001";
const SENTINEL = /\uE000(\d+)\uE001/g;

/** Character spans of the message contents in `text` (their rendering, system-role handling already applied). */
export function contentSpans(
  template: string,
  messages: readonly ChatMessage[],
  options: ChatOptions,
  text: string,
): Span[] {
  const contents = messages.map((m) => (typeof m.content === "string" ? m.content : undefined));
  const usesSentinelChars = contents.some((c) => c !== undefined && (c.includes(OPEN) || c.includes(CLOSE)));
  if (!usesSentinelChars) {
    const masked = messages.map((m, i) => (contents[i] === undefined ? m : { ...m, content: `${OPEN}${i}${CLOSE}` }));
    const spans = spansFromSentinels(render(template, masked, options), contents, text);
    if (spans) return spans;
  }
  return spansByValue(contents, text);
}

function spansFromSentinels(masked: string, contents: Array<string | undefined>, text: string): Span[] | undefined {
  const spans: Span[] = [];
  let out = "";
  let last = 0;
  for (const m of masked.matchAll(SENTINEL)) {
    const content = contents[Number(m[1])];
    if (content === undefined) return undefined;
    out += masked.slice(last, m.index);
    spans.push({ start: out.length, end: out.length + content.length });
    out += content;
    last = m.index + m[0].length;
  }
  out += masked.slice(last);
  return out === text ? spans : undefined;
}

function spansByValue(contents: Array<string | undefined>, text: string): Span[] {
  const spans: Span[] = [];
  for (const c of contents) {
    for (const needle of new Set([c, c?.trim()])) {
      if (!needle) continue;
      for (let at = text.indexOf(needle); at !== -1; at = text.indexOf(needle, at + 1)) {
        spans.push({ start: at, end: at + needle.length });
      }
    }
  }
  return spans;
}
