/**
 * Memory the engine reuses (buffer-pool.ts) never reaches a result. The
 * scheduler gets a pool whose kept buffers are all NaN; on stories260K, rows
 * of different lengths join and leave with chunked prefill, and each row's
 * tokens and top logprobs equal the reference forward pass's (to 1e-4) —
 * the first time from the poisoned buffers, the second from the ones the
 * first run gave back, which also allocates nothing new. With plain and with
 * fused attention (gqa-kv-cache.ts, whose columns past a row's length keep
 * whatever the buffer held).
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GenerateRequest, type GenerateChunk } from "../../proto/gen/steerguard/v1/sidecar.ts";
import { builtModel, SHARED_MODELS } from "../../test/support/models.ts";
import { tempDir } from "../../test/support/tmp.ts";
import { buildModel } from "../model/build.ts";
import { loadLlama2c } from "../model/llama2c.ts";
import { argmax, newKvCache, referenceForward } from "../model/reference.ts";
import { BufferPool } from "./buffer-pool.ts";
import { Engine } from "./engine.ts";

const TOL = 1e-4;
const PROMPTS = [
  "Tom and Sue went to the big park to play with a red ball. The sun was warm and the birds sang",
  "The little dog ran to the big red ball and",
  "Lily",
];

function reference(prompt: number[], steps: number, w = loadLlama2c(join(SHARED_MODELS, "stories260K/stories260K.bin"))) {
  const cache = newKvCache(w);
  let logits = referenceForward(w, cache, prompt).logits.at(-1)!;
  const tokens: number[] = [];
  const logSoftmax: Float64Array[] = [];
  for (let s = 0; s < steps; s++) {
    const max = logits.reduce((a, v) => Math.max(a, v), -Infinity);
    const lse = max + Math.log(logits.reduce((a, v) => a + Math.exp(v - max), 0));
    logSoftmax.push(Float64Array.from(logits, (v) => v - lse));
    const next = argmax(logits);
    if (next === 2) break; // </s>
    tokens.push(next);
    logits = referenceForward(w, cache, [next]).logits[0]!;
  }
  return { tokens, logSoftmax };
}

describe.each(["plain", "gqa"] as const)("buffers reused from the pool (stories260K, %s attention)", (attention) => {
  let engine: Engine;
  const pool = new BufferPool();
  beforeAll(async () => {
    for (let i = 4; i <= 16; i++) for (let k = 0; k < 40; k++) pool.give(new Float32Array(2 ** i).fill(NaN));
    let model = await builtModel("stories260K");
    if (attention === "gqa") {
      model = tempDir("sg-pool-gqa-");
      await buildModel({ from: join(SHARED_MODELS, "stories260K"), out: model, id: "stories260K", attention });
    }
    engine = await Engine.load(model, { maxBatch: 4, prefillChunk: 6, stepTokens: 9, cacheReserveMb: 0, pool });
  });
  afterAll(async () => {
    await engine.close();
  });

  const run = async (prompt: string, i: number) => {
    const req = GenerateRequest.fromPartial({ requestId: `r${i}`, input: { $case: "prompt", value: prompt }, sampling: { temperature: 0, maxTokens: 6 + 3 * i, logprobs: 5 } });
    const chunks: GenerateChunk[] = [];
    for await (const c of engine.generate(req, new AbortController().signal)) chunks.push(c);
    return { tokens: chunks.flatMap((c) => c.tokenIds), logprobs: chunks.flatMap((c) => c.logprobs) };
  };

  it("give every row the reference's tokens and logprobs, from poisoned buffers and then from their own", async () => {
    const expected = PROMPTS.map((p, i) => reference(engine.tokenizer.encode(p), 6 + 3 * i));
    let allocations = 0;
    for (const pass of [1, 2]) {
      const reuses = pool.reuses;
      const got = await Promise.all(PROMPTS.map(run));
      got.forEach((g, i) => {
        expect(g.tokens, `pass ${pass}, prompt ${i}`).toEqual(expected[i]!.tokens);
        g.logprobs.forEach((lp, s) => {
          for (const t of [lp.chosen!, ...lp.top]) expect(Math.abs(t.logprob - expected[i]!.logSoftmax[s]![t.tokenId]!)).toBeLessThan(TOL);
        });
      });
      // The pool really served this pass (the NaN buffers in the first).
      expect(pool.reuses - reuses, `pass ${pass}`).toBeGreaterThanOrEqual(40);
      if (pass === 2) expect(pool.allocations, "the second pass allocated").toBe(allocations);
      allocations = pool.allocations;
    }
  });
});
