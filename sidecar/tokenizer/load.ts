/** Load the tokenizer (and chat template) a model directory's manifest names. */
import { access, readFile } from "node:fs/promises";
import { join } from "node:path";
import { HfTokenizer, type TokenizerConfigJson } from "./hf.ts";
import { Llama2cTokenizer } from "./llama2c.ts";
import type { Manifest } from "../model/manifest.ts";
import type { Tokenizer, TokenizerSpec } from "./types.ts";

/**
 * Build the tokenizer a manifest's spec describes. A negative bosId / eosId
 * means "not given": the tokenizer's own default is used (llama2.c: 1 / 2;
 * Hugging Face: tokenizer_config.json's bos_token / eos_token, no BOS if null).
 */
export async function loadTokenizer(dir: string, spec: TokenizerSpec): Promise<Tokenizer> {
  const given = (id: number) => (id >= 0 ? id : undefined);
  const options = { bosId: given(spec.bosId), eosId: given(spec.eosId), addBos: spec.addBos };
  let tok: Tokenizer;
  switch (spec.kind) {
    case "llama2c":
      tok = await Llama2cTokenizer.fromFile(join(dir, spec.file), spec.vocabSize, options);
      break;
    case "hf": {
      const config = join(dir, spec.configFile ?? "tokenizer_config.json");
      tok = await HfTokenizer.fromFiles(join(dir, spec.file), (await exists(config)) ? config : undefined, { ...options, vocabSize: spec.vocabSize });
      break;
    }
    default:
      throw new Error(`unknown tokenizer kind ${String((spec as { kind: unknown }).kind)}`);
  }
  if (spec.vocabSize !== undefined && tok.vocabSize > spec.vocabSize) {
    throw new Error(`tokenizer has ${tok.vocabSize} tokens, more than the model's vocab size ${spec.vocabSize}`);
    // (fewer is fine: a padded embedding; the extra ids decode to nothing)
  }
  return tok;
}

/** The tokenizer of a built model directory, as its manifest describes it. */
export function loadModelTokenizer(modelDir: string, manifest: Pick<Manifest, "tokenizer" | "dims">): Promise<Tokenizer> {
  const t = manifest.tokenizer;
  return loadTokenizer(modelDir, {
    kind: t.kind, file: t.files[0]!, bosId: t.bosId ?? -1, eosId: t.eosId ?? -1, addBos: t.addBos, vocabSize: manifest.dims.vocabSize,
  });
}

/**
 * The chat template of a model source directory: `chat_template.jinja` if
 * present, else `chat_template` from tokenizer_config.json (the "default" one
 * when it is a list), else undefined.
 */
export async function findChatTemplate(dir: string): Promise<string | undefined> {
  const jinja = join(dir, "chat_template.jinja");
  if (await exists(jinja)) return readFile(jinja, "utf8");
  const configPath = join(dir, "tokenizer_config.json");
  if (!(await exists(configPath))) return undefined;
  const t = (JSON.parse(await readFile(configPath, "utf8")) as TokenizerConfigJson).chat_template;
  if (typeof t === "string" || t === undefined) return t;
  return t.find((x) => x.name === "default")?.template ?? t[0]?.template;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
