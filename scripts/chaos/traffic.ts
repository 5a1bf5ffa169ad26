/**
 * Traffic the cases share: long streams to interrupt, and a probe loop that
 * finds when the service answers again after a fault.
 */
import type { Pending } from "./client.ts";
import { LONG_SEEDS, RISKY_PROMPT, SAFE_PROMPTS } from "./config.ts";
import { sleep } from "./procs.ts";
import { answered, anyOf, refused, shedWithRetry, type Tally } from "./tally.ts";
import type { CaseContext } from "./types.ts";

/**
 * Opens `n` streams of up to `maxTokens` tokens (a number, or one per stream index) (the default runs to the end
 * of the context: ~0.5 s alone, ~1.5-6 s eight at once on a busy 2-core
 * host) and waits until each has its first content chunk (or ended);
 * resolves with them and how many are still running.
 */
export async function openLongStreams(ctx: CaseContext, n: number, tag: string, maxTokens: number | ((i: number) => number) = 4_000): Promise<{ streams: Pending[]; started: number }> {
  const streams = Array.from({ length: n }, (_, i) =>
    ctx.client.start({ tag, stream: true, content: SAFE_PROMPTS[0], temperature: 2, seed: LONG_SEEDS[i % LONG_SEEDS.length], maxTokens: typeof maxTokens === "number" ? maxTokens : maxTokens(i) }),
  );
  const first = await Promise.all(streams.map((s) => Promise.race([s.firstChunk, sleep(10_000).then(() => false)])));
  return { streams, started: first.filter(Boolean).length };
}

/** Runs `tasks` with at most `limit` at a time; results in order. */
export async function pooled<T>(tasks: Array<() => Promise<T>>, limit: number): Promise<T[]> {
  const out: T[] = new Array(tasks.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, tasks.length) }, async () => {
      while (next < tasks.length) {
        const i = next++;
        out[i] = await tasks[i]();
      }
    }),
  );
  return out;
}

/**
 * Sends small requests every `everyMs` (three safe, then a risky one) until a
 * safe one is answered by the model, or `timeoutMs` passes. While the sidecar
 * is away, safe requests must get 503 with retry-after and risky ones the
 * fail-closed refusal. Resolves with the time (ms epoch) the first success
 * arrived, or null.
 */
export async function probeUntilAnswered(ctx: CaseContext, tally: Tally, timeoutMs: number, everyMs = 50): Promise<number | null> {
  const end = Date.now() + timeoutMs;
  for (let i = 0; Date.now() < end && !ctx.signal.aborted; i++) {
    const risky = i % 4 === 3;
    const o = await ctx.client.chat({ tag: `${tally.name}-probe`, content: risky ? RISKY_PROMPT : SAFE_PROMPTS[i % SAFE_PROMPTS.length], maxTokens: 4 });
    tally.add(o, risky ? anyOf(answered, refused) : anyOf(answered, shedWithRetry));
    if (!risky && answered(o) === null) return Date.now();
    await sleep(everyMs, ctx.signal);
  }
  return null;
}
