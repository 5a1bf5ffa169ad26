/**
 * Steering stays exact under chunked prefill (sidecar/engine/prefill.ts): on
 * stories260K with seeded random SAEs, prompts split across chunks (the last
 * chunk holding only the last prompt token, or several) and batched with
 * other rows give the reference forward pass's tokens, and every generated
 * token's top logprobs match the reference's log-softmax to 1e-4: with
 * positions "generated" (steering starts at the last prompt token, in the
 * last chunk), positions "all", per-row strengths, and unsteered rows beside
 * steered ones (gate 0 in every chunk).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GenerateRequest, type GenerateChunk, type SteeringRequest } from "../../proto/gen/steerguard/v1/sidecar.ts";
import { builtModel, SHARED_MODELS } from "../../test/support/models.ts";
import { tempDir } from "../../test/support/tmp.ts";
import { Engine } from "../engine/engine.ts";
import type { StepTrace } from "../engine/prefill.ts";
import { loadLlama2c } from "../model/llama2c.ts";
import { argmax, newKvCache, referenceForward } from "../model/reference.ts";
import type { LlamaWeights } from "../model/weights.ts";
import type { Sae } from "../sae/types.ts";
import { steeringHook, type ReferenceOutcome, type SteeringSpec } from "./reference.ts";
import { BufferPool } from "../engine/buffer-pool.ts";
import type { OnnxDecoder } from "../engine/decoder.ts";
import { saveSaeLens } from "../sae/load.ts";
import { conditionAt, randomSae, writeStoriesProfiles } from "./test-support.ts";

const TOL = 1e-4;
const LOGPROBS = 5;

/** Greedy reference generation: the tokens and each step's log-softmax. */
function reference(w: LlamaWeights, prompt: number[], steps: number, steer?: { sae: Sae; spec: SteeringSpec }) {
  const cache = newKvCache(w);
  let outcome: ReferenceOutcome | undefined;
  const onResidual = steer ? steeringHook(steer.sae, steer.spec, prompt.length, (o) => (outcome = o)) : undefined;
  let logits = referenceForward(w, cache, prompt, { onResidual }).logits.at(-1)!;
  const tokens: number[] = [];
  const logSoftmax: Float64Array[] = [];
  for (let s = 0; s < steps; s++) {
    let max = -Infinity;
    for (const v of logits) max = Math.max(max, v);
    let sum = 0;
    for (const v of logits) sum += Math.exp(v - max);
    logSoftmax.push(Float64Array.from(logits, (v) => v - max - Math.log(sum)));
    const next = argmax(logits);
    if (next === 2) break; // </s>
    tokens.push(next);
    logits = referenceForward(w, cache, [next], { onResidual }).logits[0]!;
  }
  return { tokens, logSoftmax, outcome };
}

async function run(engine: Engine, req: GenerateRequest) {
  const chunks: GenerateChunk[] = [];
  for await (const c of engine.generate(req, new AbortController().signal)) chunks.push(c);
  return { tokens: chunks.flatMap((c) => c.tokenIds), logprobs: chunks.flatMap((c) => c.logprobs), condition: chunks[0]?.condition };
}

/** Each row's tokens equal the reference's, and every logprob it reports is the reference's to TOL. */
function expectReference(got: Awaited<ReturnType<typeof run>>[], expected: ReturnType<typeof reference>[], ids: string[], chunk: number): void {
  got.forEach((g, i) => {
    const want = expected[i]!;
    expect(g.tokens, `chunk ${chunk}, ${ids[i]}`).toEqual(want.tokens);
    g.logprobs.forEach((lp, s) => {
      for (const t of [lp.chosen!, ...lp.top]) expect(Math.abs(t.logprob - want.logSoftmax[s]![t.tokenId]!)).toBeLessThan(TOL);
    });
  });
}

const request = (id: string, prompt: string, maxTokens: number, steering?: Partial<SteeringRequest>) =>
  GenerateRequest.fromPartial({ requestId: id, input: { $case: "prompt", value: prompt }, sampling: { temperature: 0, maxTokens, logprobs: LOGPROBS }, steering });

describe("steering under chunked prefill (stories260K)", () => {
  const w = loadLlama2c(join(SHARED_MODELS, "stories260K/stories260K.bin"));
  const dir = tempDir("sg-steer-chunked-");
  const { jump, topk, refusal, boost } = writeStoriesProfiles(dir);
  let model: string;
  const engines: Engine[] = [];

  beforeAll(async () => {
    model = await builtModel("stories260K");
  });
  afterAll(async () => {
    for (const e of engines) await e.close();
  });

  const LONG = "Tom and Sue went to the big park to play with a red ball. The sun was warm and the birds sang in the tall green trees";
  const MID = "The little dog ran to the big red ball and";

  it("gives each row the reference's tokens and logprobs, whatever the chunk boundaries", async () => {
    const probe = await Engine.load(model, { profileDirs: [dir], prefillChunk: 0 });
    engines.push(probe);
    const n = probe.tokenizer.encode(LONG).length;
    const rows = [
      { req: request("long-generated", LONG, 14, { profile: "refusal", strength: 1.5 }), steer: { sae: jump, spec: { ...refusal, strength: 1.5 } } },
      { req: request("mid-plain", MID, 10) },
      { req: request("long-all", LONG, 10, { profile: "boost", strength: 0.7 }), steer: { sae: topk, spec: { ...boost, strength: 0.7 } } },
    ];
    const expected = rows.map((r) => reference(w, probe.tokenizer.encode(r.req.input!.value as string), r.req.sampling!.maxTokens!, r.steer));
    // The steered rows differ from the plain reference: steering is really on.
    expect(expected[0]!.tokens).not.toEqual(reference(w, probe.tokenizer.encode(LONG), 14).tokens);
    expect(expected[2]!.tokens).not.toEqual(reference(w, probe.tokenizer.encode(LONG), 10).tokens);

    // Chunks of `chunk` tokens where the budget lets every prompt have a whole chunk per step
    // (the last chunk exactly the last prompt token; an uneven split), and a tight budget
    // that cuts chunks short (budget minus the decode rows, shared shortest first).
    const divisor = [7, 6, 5, 4, 3].find((d) => (n - 1) % d === 0)!;
    const settings = [
      { chunk: divisor, stepTokens: 3 * divisor + 4, exact: true },
      { chunk: Math.ceil(n / 3), stepTokens: 3 * Math.ceil(n / 3) + 4, exact: true },
      { chunk: 6, stepTokens: 9, exact: false },
    ];
    for (const { chunk, stepTokens, exact } of settings) {
      const trace: StepTrace[] = [];
      const engine = await Engine.load(model, { maxBatch: 4, profileDirs: [dir], prefillChunk: chunk, stepTokens, onStep: (s) => trace.push(s) });
      engines.push(engine);
      const got = await Promise.all(rows.map((r) => run(engine, r.req)));
      expectReference(got, expected, rows.map((r) => r.req.requestId), chunk);
      // The long prompts really were split, contiguously, at most `chunk` tokens at a time.
      let cut = false;
      for (const id of ["long-generated", "long-all"]) {
        const pieces = trace.flatMap((s) => s.chunks.filter((c) => c.id === id));
        expect(pieces.every((c) => c.tokens <= chunk)).toBe(true);
        expect(pieces.map((c) => c.start)).toEqual(pieces.map((_, i) => pieces.slice(0, i).reduce((a, c) => a + c.tokens, 0)));
        expect(pieces.reduce((a, c) => a + c.tokens, 0)).toBe(n);
        if (exact) expect(pieces.map((c) => c.tokens)).toEqual(Array.from({ length: Math.ceil(n / chunk) }, (_, i) => Math.min(chunk, n - i * chunk)));
        // A tight budget cut some chunk short before the prompt's last.
        else cut ||= pieces.slice(0, -1).some((c) => c.tokens < chunk);
        if (chunk === divisor) expect(pieces.at(-1)!.tokens).toBe(1);
      }
      expect(cut).toBe(!exact);
      // No step went over its budget.
      for (const s of trace) expect(s.decodeRows + s.chunks.reduce((a, c) => a + c.tokens, 0)).toBeLessThanOrEqual(stepTokens);
      // Chunks of different rows shared steps with decode steps of the others.
      expect(trace.some((s) => s.decodeRows > 0 && s.chunks.length > 0)).toBe(true);
    }
  });

  it("decides a conditional row in the chunk holding its last prompt token: the reference's outcome, tokens and logprobs", async () => {
    const probe = await Engine.load(model, { profileDirs: [dir], prefillChunk: 0 });
    engines.push(probe);
    const ids = probe.tokenizer.encode(LONG);
    const n = ids.length;
    const { features, value } = conditionAt(w, jump, refusal.layer, ids, refusal.features.map((f) => f.index));
    expect(value).toBeGreaterThan(0.05);
    const margin = Math.max(0.05, 0.1 * value);
    const condDir = tempDir("sg-steer-chunked-cond-");
    writeFileSync(join(condDir, "refusal-if.json"), JSON.stringify({ ...refusal, name: "refusal-if", sae: join(dir, "sae-jump"), condition: { features, threshold: 0 } }));
    const conditional = (id: string, threshold: number) => ({
      req: request(id, LONG, 14, { profile: "refusal-if", strength: 1.5, conditional: true, conditionThreshold: threshold }),
      steer: { sae: jump, spec: { ...refusal, strength: 1.5, condition: { features, threshold } } },
    });
    const rows = [conditional("holds", value - margin), conditional("fails", value + margin), { req: request("mid-plain", MID, 10), steer: undefined }];
    const expected = rows.map((r) => reference(w, probe.tokenizer.encode(r.req.input!.value as string), r.req.sampling!.maxTokens!, r.steer));
    expect(expected.map((e) => e.outcome?.steer)).toEqual([true, false, undefined]);
    expect(expected[0]!.tokens).not.toEqual(expected[1]!.tokens);
    expect(expected[1]!.tokens).toEqual(reference(w, ids, 14).tokens);

    const divisor = [7, 6, 5, 4, 3].find((d) => (n - 1) % d === 0)!;
    for (const { chunk, stepTokens } of [{ chunk: divisor, stepTokens: 3 * divisor + 4 }, { chunk: Math.ceil(n / 3), stepTokens: 64 }, { chunk: 6, stepTokens: 9 }]) {
      const trace: StepTrace[] = [];
      const engine = await Engine.load(model, { maxBatch: 4, profiles: [join(condDir, "refusal-if.json")], prefillChunk: chunk, stepTokens, onStep: (s) => trace.push(s) });
      engines.push(engine);
      const got = await Promise.all(rows.map((r) => run(engine, r.req)));
      expectReference(got, expected, rows.map((r) => r.req.requestId), chunk);
      got.forEach((g, i) => {
        const want = expected[i]!;
        if (!want.outcome) return void expect(g.condition).toBeUndefined();
        expect(g.condition!.steer).toBe(want.outcome.steer);
        expect(Math.abs(g.condition!.value - want.outcome.value)).toBeLessThan(TOL);
      });
      // The conditional prompts were split, the last prompt token in a later chunk (alone in it, with the divisor).
      for (const id of ["holds", "fails"]) {
        const pieces = trace.flatMap((s) => s.chunks.filter((c) => c.id === id));
        expect(pieces.length).toBeGreaterThan(1);
        expect(pieces.reduce((a, c) => a + c.tokens, 0)).toBe(n);
        if (chunk === divisor) expect(pieces.at(-1)!.tokens).toBe(1);
      }
    }
  });

  it("a steered prompt let through a paused decode run, with the hook on the last block (the head on every position), gets the reference's tokens, and so does the paused row", async () => {
    // Its logits take more rows than the paused run's buffer holds: growing that buffer must not hand the
    // paused run's to the pool, where the newcomer's cache could take it and the paused run's head then write into it.
    const lastDir = tempDir("sg-steer-chunked-last-");
    const last = randomSae("jumprelu", 64, 128, 23, { layer: 4 });
    const profile = { name: "last", sae: "sae-last", layer: 4, positions: "all", features: [{ index: 3, mode: "add", value: 10 }] } as const;
    saveSaeLens(join(lastDir, "sae-last"), last);
    writeFileSync(join(lastDir, "last.json"), JSON.stringify(profile));
    const trace: StepTrace[] = [];
    // The buffer the paused run's head will write into is never given back while that run is under way.
    const pool = new BufferPool();
    let inRun: Float32Array | undefined;
    let givenInRun = 0;
    const give = pool.give.bind(pool);
    pool.give = (buf) => (buf === inRun && givenInRun++, give(buf));
    const engine = await Engine.load(model, { maxBatch: 4, profileDirs: [lastDir], prefillChunk: 16, stepTokens: 24, segmentLayers: 2, pool, onStep: (t) => trace.push(t) });
    engines.push(engine);
    const decoder = (engine as unknown as { decoder: OnnxDecoder }).decoder;
    expect(decoder.segments).toBe(4); // blocks 0-1, 2-3, 4 (hooked) and the head
    const mid = engine.tokenizer.encode(MID).length;
    expect(decoder.logitsRows(1, mid, "last")).toBe(mid);

    const rows = [
      { req: request("stream", "Lily", 20, { profile: "last", strength: 1 }), steer: { sae: last, spec: { ...profile, strength: 1 } } },
      { req: request("newcomer", MID, 10, { profile: "last", strength: 2 }), steer: { sae: last, spec: { ...profile, strength: 2 } } },
    ];
    const expected = rows.map((r) => reference(w, engine.tokenizer.encode(r.req.input!.value as string), r.req.sampling!.maxTokens!, r.steer));
    expect(expected[1]!.tokens).not.toEqual(reference(w, engine.tokenizer.encode(MID), 10).tokens);

    // The newcomer is sent from the first pause of the stream's third decode run, and runs there.
    let newcomer: ReturnType<typeof run> | undefined;
    let during = -1;
    let decodeRuns = 0;
    const step = decoder.step.bind(decoder);
    decoder.step = async (input) => {
      const between = input.between;
      if (++decodeRuns === 3 && between) {
        during = trace.length;
        input = { ...input, between: () => ((newcomer ??= run(engine, rows[1]!.req)), between()) };
      }
      inRun = input.logitsInto;
      try {
        return await step(input);
      } finally {
        inRun = undefined;
      }
    };
    const stream = await run(engine, rows[0]!.req);
    expect(newcomer).toBeDefined();
    expect(trace[during]!.decodeRows).toBe(1);
    expect(trace[during]!.chunks.map((c) => [c.id, c.tokens])).toEqual([["newcomer", mid]]);
    expect(givenInRun).toBe(0);
    expectReference([stream, await newcomer!], expected, ["stream", "newcomer"], 16);
  });
});
