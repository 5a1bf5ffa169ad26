/**
 * Finds the tokenizer files, special token ids and chat template of a model
 * source, for the manifest. Tokenizing itself lives in sidecar/tokenizer.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { HfConfig } from "./hf.ts";

export interface TokenizerInfo {
  kind: "llama2c" | "hf";
  /** Absolute paths of the files to copy into the model directory (main file first). */
  files: string[];
  bosId: number | null;
  eosId: number | null;
  eosIds: number[];
  addBos: boolean;
  chatTemplate: string | null;
  /** The chat template's file, when it came from one (hashed as a source file). */
  chatTemplateFile: string | null;
  specialTokens: { id: number; text: string }[];
}

const readJson = (file: string): Record<string, unknown> => JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;

/** `chat_template.jinja` in a folder, or null. */
function chatTemplateFile(dir: string): string | null {
  const f = join(dir, "chat_template.jinja");
  return existsSync(f) ? f : null;
}

/**
 * llama2.c: the `tok*.bin` beside the checkpoint (or `tokenizerOverride`),
 * BOS 1, EOS 2, BOS always added (run.c's encode), `chat_template.jinja` when present.
 */
export function llama2cTokenizer(checkpoint: string, tokenizerOverride?: string): TokenizerInfo {
  const dir = dirname(checkpoint);
  let tok = tokenizerOverride;
  if (!tok) {
    const candidates = readdirSync(dir).filter((f) => /^tok.*\.bin$/.test(f)).sort();
    if (candidates.length === 0) throw new Error(`${dir}: no tok*.bin tokenizer beside ${basename(checkpoint)}; pass --tokenizer FILE`);
    if (candidates.length > 1) throw new Error(`${dir}: several tokenizers (${candidates.join(", ")}); choose one with --tokenizer FILE`);
    tok = join(dir, candidates[0]);
  }
  if (!existsSync(tok)) throw new Error(`${tok}: tokenizer file not found`);
  const templateFile = chatTemplateFile(dir);
  return {
    kind: "llama2c",
    files: [tok],
    bosId: 1,
    eosId: 2,
    eosIds: [2],
    addBos: true,
    chatTemplate: templateFile ? readFileSync(templateFile, "utf8") : null,
    chatTemplateFile: templateFile,
    specialTokens: [
      { id: 0, text: "<unk>" },
      { id: 1, text: "<s>" },
      { id: 2, text: "</s>" },
    ],
  };
}

/** A token given as a string or as `{content: string}` in tokenizer_config.json. */
function tokenText(t: unknown): string | null {
  if (typeof t === "string") return t;
  if (t && typeof t === "object" && typeof (t as { content?: unknown }).content === "string") return (t as { content: string }).content;
  return null;
}

const idList = (v: unknown): number[] => (typeof v === "number" ? [v] : Array.isArray(v) ? v.filter((x): x is number => typeof x === "number") : []);

/**
 * Hugging Face: tokenizer.json (+ tokenizer_config.json when present).
 * BOS: config.json bos_token_id, else tokenizer_config's bos_token looked up
 * in tokenizer.json. EOS ids: config.json eos_token_id, generation_config.json
 * eos_token_id and tokenizer_config's eos_token, in that order, deduplicated.
 * addBos: tokenizer_config add_bos_token, else whether the post-processor
 * inserts the BOS token. Chat template: tokenizer_config chat_template
 * (the "default" one of a list), else chat_template.jinja.
 */
export function hfTokenizer(dir: string, config: HfConfig): TokenizerInfo {
  const tokFile = join(dir, "tokenizer.json");
  if (!existsSync(tokFile)) throw new Error(`${dir}: tokenizer.json not found (needed for Hugging Face sources)`);
  const tok = readJson(tokFile);
  const cfgFile = join(dir, "tokenizer_config.json");
  const tcfg = existsSync(cfgFile) ? readJson(cfgFile) : {};
  const genFile = join(dir, "generation_config.json");
  const gen = existsSync(genFile) ? readJson(genFile) : {};

  const added = (Array.isArray(tok.added_tokens) ? tok.added_tokens : []) as { id: number; content: string; special?: boolean }[];
  const vocab = ((tok.model as { vocab?: unknown } | undefined)?.vocab ?? {}) as Record<string, number> | [string, number][];
  const idOf = (text: string | null): number | null => {
    if (text === null) return null;
    const a = added.find((t) => t.content === text);
    if (a) return a.id;
    if (!Array.isArray(vocab) && typeof vocab[text] === "number") return vocab[text];
    return null;
  };

  const bosText = tokenText(tcfg.bos_token);
  const bosId = typeof config.bos_token_id === "number" ? config.bos_token_id : idOf(bosText);
  const eosIds = [...new Set([...idList(config.eos_token_id), ...idList(gen.eos_token_id), ...idList(idOf(tokenText(tcfg.eos_token)))])];
  let addBos: boolean;
  if (typeof tcfg.add_bos_token === "boolean") addBos = tcfg.add_bos_token;
  else {
    const bosString = bosText ?? added.find((t) => t.id === bosId)?.content ?? null;
    addBos = bosString !== null && JSON.stringify(tok.post_processor ?? null).includes(JSON.stringify(bosString));
  }

  let chatTemplate: string | null = null;
  let templateFile: string | null = null;
  const ct = tcfg.chat_template;
  if (typeof ct === "string") chatTemplate = ct;
  else if (Array.isArray(ct)) {
    const list = ct as { name: string; template: string }[];
    chatTemplate = (list.find((t) => t.name === "default") ?? list[0])?.template ?? null;
  }
  if (chatTemplate === null) {
    templateFile = chatTemplateFile(dir);
    if (templateFile) chatTemplate = readFileSync(templateFile, "utf8");
  }

  return {
    kind: "hf",
    files: existsSync(cfgFile) ? [tokFile, cfgFile] : [tokFile],
    bosId,
    eosId: eosIds[0] ?? null,
    eosIds,
    addBos,
    chatTemplate,
    chatTemplateFile: templateFile,
    specialTokens: added.filter((t) => t.special).map((t) => ({ id: t.id, text: t.content })),
  };
}
