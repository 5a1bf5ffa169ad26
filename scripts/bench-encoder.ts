/**
 * `npm run bench:encoder -- [options]`
 *
 * The second stage's sentence encoder (universal-sentence-encoder-lite), one
 * text at a time: TensorFlow.js with the wasm backend on one thread
 * (SentenceEncoder, what the edge runs) against the same model as an ONNX
 * graph run by onnxruntime-node (OnnxSentenceEncoder) with 1 and 2 intra-op
 * threads, for a short prompt (~10 pieces), 64 pieces and 128 pieces (the
 * model's maximum). Each call is embed(text): tokenizing included, as the
 * edge pays it. The encoders take turns in blocks of --block calls, so that
 * drift in the machine's load hits them alike; the first call of each block
 * is not timed (each model's ~28 MB of weights evicts the others' from the
 * cache, which turn-by-turn calls would charge to every call: +30 ms for
 * tfjs at 128 pieces here). p50 and p99 print side by side.
 *
 * Then a burst: --burst texts sent at once to onnxruntime (2 threads, as the
 * edge runs it), which runs the texts that wait together as one batch
 * (edge/encoder/base.ts), against the same texts one run each, alternating.
 *
 * Figures go to stdout; progress to stderr.
 */
import { cpus, loadavg } from "node:os";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { SentenceEncoder } from "../edge/encoder/index.ts";
import { OnnxSentenceEncoder } from "../edge/encoder/onnx.ts";
import { intFlag, parseCli, UsageError } from "./lib/cli.ts";
import { quantile } from "./classifier/metrics.ts";

export const HELP = `Usage: npm run bench:encoder -- [options]

Times one embedding (batch 1, tokenizing included) with the tfjs-wasm
SentenceEncoder (1 thread) and the onnxruntime-node OnnxSentenceEncoder (each
--threads count), for texts of ~10, 64 and 128 pieces, and prints p50 and
p99 in ms side by side. The encoders take turns in blocks; each block's first
call warms the cache and is not timed.

  --runs N         timed calls per encoder and text (default 200)
  --block N        timed calls per turn (default 20)
  --warmup N       untimed calls per encoder and text first (default 20)
  --threads LIST   onnxruntime intra-op threads, comma-separated (default 1,2)
  --burst N        texts per burst for the coalescing comparison (default 64; 0: skip it)
  -h, --help       show this help
`;

const PROSE =
  "The guard reads every prompt before the model does. Most prompts are short questions about code, recipes, travel or " +
  "homework, and the first stage lets them through at once; a few look like attempts to talk the model out of its rules, " +
  "with long role-play setups, invented personas, and requests hidden at the very end of a wall of text. For those the " +
  "second stage embeds the prompt and asks a small probe whether it resembles the attacks it was fitted on. The embedding " +
  "has to be cheap, because it sits on the request path, and it has to be the same embedding the probe was trained with.";

interface Case {
  label: string;
  text: string;
  pieces: number;
}

/** The shortest prefix of PROSE of at least `target` pieces (exactly `target` unless a cut word adds two). */
function textOf(encoder: SentenceEncoder, target: number): string {
  for (let n = 1; n <= PROSE.length; n++) {
    const t = PROSE.slice(0, n);
    if (encoder.tokens(t).length >= target) return t;
  }
  return PROSE;
}

export async function main(argv: string[]): Promise<number> {
  const parsed = parseCli(argv, {
    runs: { type: "string" },
    warmup: { type: "string" },
    block: { type: "string" },
    threads: { type: "string" },
    burst: { type: "string" },
    help: { type: "boolean", short: "h" },
  }, HELP, { prefix: "bench:encoder: " });
  if ("exit" in parsed) return parsed.exit;
  let runs: number, warmup: number, block: number, threads: number[], burst: number;
  try {
    runs = intFlag("runs", parsed.values.runs, { min: 10, default: 200 });
    warmup = intFlag("warmup", parsed.values.warmup, { min: 0, default: 20 });
    block = intFlag("block", parsed.values.block, { min: 1, default: 20 });
    burst = intFlag("burst", parsed.values.burst, { min: 0, max: 10_000, default: 64 });
    threads = (parsed.values.threads ?? "1,2").split(",").map((s) => intFlag("threads", s.trim(), { min: 1, max: 64, default: 1 }));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`bench:encoder: ${e.message}\n\n${HELP}`);
    return 2;
  }

  process.stderr.write("loading encoders ...\n");
  const tfjs = await SentenceEncoder.load();
  const onnx = await Promise.all(threads.map((t) => OnnxSentenceEncoder.load({ intraOpThreads: t })));
  const encoders = [{ name: "tfjs-wasm 1T", embed: (t: string) => tfjs.embed(t) }, ...onnx.map((e, i) => ({ name: `onnxruntime ${threads[i]}T`, embed: (t: string) => e.embed(t) }))];
  const cases: Case[] = [{ label: "short", text: "How do I kill a Python process?" }, { label: "64", text: textOf(tfjs, 64) }, { label: "128", text: PROSE }].map((c) => ({ ...c, pieces: tfjs.tokens(c.text).length }));

  process.stdout.write(`${cpus().length} CPUs (${cpus()[0]?.model ?? "?"}), load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}; ${runs} timed calls each (turns of ${block}) after ${warmup} warm-up, batch 1\n\n`);
  const header = ["pieces", ...encoders.map((e) => `${e.name} p50 / p99`), ...encoders.slice(1).map((e) => `${e.name} vs tfjs (p50 / p99)`)];
  const lines = [`| ${header.join(" | ")} |`, `| ${header.map(() => "---").join(" | ")} |`];
  for (const c of cases) {
    process.stderr.write(`${c.pieces} pieces ...\n`);
    for (let i = 0; i < warmup; i++) for (const e of encoders) await e.embed(c.text);
    const times = encoders.map(() => [] as number[]);
    for (let done = 0; done < runs; done += block) {
      for (let k = 0; k < encoders.length; k++) {
        await encoders[k]!.embed(c.text); // warms the cache after the other encoders' turns
        for (let i = 0; i < Math.min(block, runs - done); i++) {
          const t0 = performance.now();
          await encoders[k]!.embed(c.text);
          times[k]!.push(performance.now() - t0);
        }
      }
    }
    const stats = times.map((t) => ({ p50: quantile(t, 0.5), p99: quantile(t, 0.99) }));
    const base = stats[0]!;
    lines.push(`| ${[`${c.pieces} (${c.label})`, ...stats.map((s) => `${s.p50.toFixed(2)} / ${s.p99.toFixed(2)}`), ...stats.slice(1).map((s) => `${(base.p50 / s.p50).toFixed(1)}x / ${(base.p99 / s.p99).toFixed(1)}x`)].join(" | ")} |`);
  }
  process.stdout.write(lines.join("\n") + "\n");
  if (burst > 0) process.stdout.write(`\n${await burstTable(cases, burst, Math.max(3, Math.round(runs / 40)))}\n`);
  await Promise.all(onnx.map((e) => e.release()));
  return 0;
}

/**
 * `n` texts at once through onnxruntime (2 threads): coalesced as the edge
 * runs them, and one run each (each call awaited before the next, as before
 * coalescing), alternating for `rounds` rounds; the median burst time and
 * texts per second. The mixed row cycles through the cases' texts.
 */
async function burstTable(cases: Case[], n: number, rounds: number): Promise<string> {
  const enc = await OnnxSentenceEncoder.load({ intraOpThreads: 2 });
  const rows = [...cases.map((c) => ({ label: `${c.pieces} (${c.label})`, texts: Array(n).fill(c.text) as string[] })), { label: "mixed", texts: Array.from({ length: n }, (_, i) => cases[i % cases.length]!.text) }];
  const lines = [`burst of ${n} texts, onnxruntime 2T, median of ${rounds} rounds:`, "", "| pieces | coalesced ms (texts/s) | one run each ms (texts/s) | speed-up |", "| --- | --- | --- | --- |"];
  for (const row of rows) {
    process.stderr.write(`burst ${row.label} ...\n`);
    const coalesced: number[] = [];
    const single: number[] = [];
    await Promise.all(row.texts.map((t) => enc.embed(t))); // warm-up
    for (let r = 0; r < rounds; r++) {
      let t0 = performance.now();
      await Promise.all(row.texts.map((t) => enc.embed(t)));
      coalesced.push(performance.now() - t0);
      t0 = performance.now();
      for (const t of row.texts) await enc.embed(t);
      single.push(performance.now() - t0);
    }
    const [c, s] = [quantile(coalesced, 0.5), quantile(single, 0.5)];
    lines.push(`| ${row.label} | ${c.toFixed(0)} (${((n / c) * 1000).toFixed(0)}) | ${s.toFixed(0)} (${((n / s) * 1000).toFixed(0)}) | ${(s / c).toFixed(2)}x |`);
  }
  await enc.release();
  return lines.join("\n");
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await main(process.argv.slice(2));
}
