/** Test helpers for the engine: greedy tokens through the real scheduler. */
import type { Manifest } from "../model/manifest.ts";
import { loadModelTokenizer } from "../tokenizer/load.ts";
import type { OnnxDecoder } from "./decoder.ts";
import type { ChunkingOptions } from "./prefill.ts";
import { Scheduler } from "./scheduler.ts";
import { Sequence } from "./sequence.ts";

/**
 * Greedy tokens for each prompt from one scheduler over `decoder` (KV cache,
 * continuous batching; all prompts submitted at once), EOS not stopping, with
 * `chunking` when given.
 */
export async function schedulerGreedy(decoder: OnnxDecoder, modelDir: string, manifest: Manifest, prompts: number[][], steps: number, chunking?: ChunkingOptions): Promise<number[][]> {
  const tokenizer = await loadModelTokenizer(modelDir, manifest);
  const scheduler = new Scheduler(decoder, { maxBatch: prompts.length, maxQueue: prompts.length, chunking });
  try {
    const seqs = prompts.map((promptIds, i) => new Sequence(
      { id: String(i), promptIds, maxTokens: steps, sampling: { temperature: 0, topK: 0 }, stop: [], logprobs: 0, signal: new AbortController().signal },
      tokenizer,
      new Set(),
    ));
    for (const s of seqs) scheduler.submit(s);
    return await Promise.all(seqs.map(async (s) => {
      const ids: number[] = [];
      for await (const chunk of s.output) ids.push(...chunk.tokenIds);
      return ids;
    }));
  } finally {
    await scheduler.stop();
  }
}
