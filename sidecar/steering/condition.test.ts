/**
 * Conditional steering in the ONNX hook against the plain-TypeScript
 * reference (./reference.ts steeringHook with a condition): seeded random
 * tiny models and SAEs of every architecture; one batch mixing an
 * unconditional steered row, a conditional row whose condition holds, one
 * whose condition fails and an unsteered row; the condition's value read
 * from `steer.L.cond` at the last prompt token, latched as the engine does
 * (then the row is plainly steered, or not at all); the prompt prefilled
 * whole or in chunks with the last prompt token in a later chunk. The
 * failing row is bit for bit the model without a hook.
 */
import type * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { emptyPast, maxAbsDiff, type Past } from "../model/graph/test-support.ts";
import { randomLlama } from "../model/random-model.ts";
import { newKvCache, referenceForward } from "../model/reference.ts";
import type { LlamaWeights } from "../model/weights.ts";
import type { Sae, SaeArchitecture } from "../sae/types.ts";
import { layerStepInputs, type RowSteering } from "./inputs.ts";
import { steerActs, steerCond } from "./names.ts";
import type { ConditionFeature, SteeringFeature } from "./profile.ts";
import { saeEncodeFeatures, steeringHook, type ReferenceOutcome, type SteeringSpec } from "./reference.ts";
import { hookedSession, plainSession, randomSae, runSteeredStep, type SteerFeeds } from "./test-support.ts";

const TOL = 1e-4;
const LAYER = 1;
const OTHER = 2; // a second hooked layer, never steered (gate 0)
// Rows: 0 steered, 1 conditional (holds), 2 conditional (fails), 3 unsteered (row 2's prompt).
const PROMPTS = [
  [1, 17, 3, 42, 8, 25, 11],
  [4, 9, 30, 2, 44, 7, 13],
  [20, 5, 38, 16, 1, 29, 40],
  [20, 5, 38, 16, 1, 29, 40],
];
const N = PROMPTS[0]!.length;
const DECODE = [5, 49, 0, 33];
/** Chunk sizes of the prompt: whole, and three splits with the last prompt token in a later chunk. */
const CHUNKINGS = [[N], [4, 3], [6, 1], [2, 2, 3]];

const residuals = (w: LlamaWeights, prompt: number[]) => referenceForward(w, newKvCache(w), prompt, { keepResiduals: true }).residuals[LAYER]!;

/** Steering features: the two most active on row 0's prompt and a quiet one, with every mode. */
function steeringFeatures(w: LlamaWeights, sae: Sae): SteeringFeature[] {
  const all = Array.from({ length: sae.dSae }, (_, i) => i);
  const mean = new Float64Array(sae.dSae);
  for (const x of residuals(w, PROMPTS[0]!)) saeEncodeFeatures(sae, x, all).forEach((f, i) => (mean[i] += f));
  const order = all.sort((a, b) => mean[b]! - mean[a]!);
  return [{ index: order[0]!, mode: "add", value: 3 }, { index: order[1]!, mode: "clamp", value: 2 }, { index: order.at(-1)!, mode: "scale", value: 2.5 }];
}

/**
 * A condition on two features that are not steering features (the most
 * active at the conditional rows' last prompt tokens) and one that is.
 */
function conditionFeatures(w: LlamaWeights, sae: Sae, steering: SteeringFeature[]): ConditionFeature[] {
  const all = Array.from({ length: sae.dSae }, (_, i) => i);
  const score = new Float64Array(sae.dSae);
  for (const p of [PROMPTS[1]!, PROMPTS[2]!]) saeEncodeFeatures(sae, residuals(w, p).at(-1)!, all).forEach((f, i) => (score[i] += f));
  const taken = new Set(steering.map((f) => f.index));
  const order = all.filter((i) => !taken.has(i)).sort((a, b) => score[b]! - score[a]!);
  expect(score[order[0]!]).toBeGreaterThan(0);
  return [{ index: order[0]!, weight: 1 }, { index: order[1]!, weight: -0.5 }, { index: steering[0]!.index, weight: 0.25 }];
}

/** Reference logits of one row (prompt, then DECODE fed one at a time) and what its condition decided. */
function reference(w: LlamaWeights, sae: Sae, prompt: number[], spec: SteeringSpec | null) {
  const cache = newKvCache(w);
  let outcome: ReferenceOutcome | undefined;
  const onResidual = spec ? steeringHook(sae, spec, prompt.length, (o) => (outcome = o)) : undefined;
  const logits = [...referenceForward(w, cache, prompt, { onResidual }).logits];
  for (const t of DECODE) logits.push(referenceForward(w, cache, [t], { onResidual }).logits[0]!);
  return { logits, outcome };
}

/**
 * The graph, as the engine drives it: the prompt in `chunks`, a conditional
 * row decided from `steer.L.cond` in the chunk holding its last prompt
 * token, then DECODE with the decided rows plain or unsteered. `rows` null:
 * a session without hooks (no steering inputs).
 */
async function graphRun(session: ort.InferenceSession, w: LlamaWeights, rows: (RowSteering | null)[] | null, chunks: number[]) {
  const c = w.config;
  const B = PROMPTS.length;
  let past: Past = emptyPast(c, B);
  let done = 0;
  let current = rows ?? [];
  const logits: Float32Array[][] = PROMPTS.map(() => []);
  const cond: (number | undefined)[] = PROMPTS.map(() => undefined);
  const feed = (rs: (RowSteering | null)[], seq: number): SteerFeeds => {
    if (!rows) return {};
    const starts = rs.map(() => done);
    return { [LAYER]: layerStepInputs(rs, seq, starts), [OTHER]: layerStepInputs(rs.map(() => null), seq, starts) };
  };
  const step = async (ids: number[][]) => {
    const S = ids[0]!.length;
    const r = await runSteeredStep(session, c, ids, ids.map(() => Array.from({ length: S }, (_, i) => done + i)), ids.map(() => Array(done + S).fill(1)), past, feed(current, S));
    r.logits.forEach((row, b) => logits[b]!.push(...row));
    past = r.past;
    return r;
  };
  for (const n of chunks) {
    const r = await step(PROMPTS.map((p) => p.slice(done, done + n)));
    const value = r.outputs[steerCond(LAYER)]!;
    current = current.map((row, b) => {
      if (!row?.condition || done + n < N) return row;
      expect(value.dims).toEqual([B, n]);
      const v = (value.data as Float32Array)[b * n + n - 1]!;
      cond[b] = v;
      const { condition, ...plain } = row;
      return v < Math.fround(condition.threshold) ? null : plain;
    });
    done += n;
  }
  for (const t of DECODE) {
    await step(PROMPTS.map(() => [t]));
    done++;
  }
  return { logits, cond };
}

const ARCHS: SaeArchitecture[] = ["relu", "jumprelu", "topk"];

describe("conditional steering in the hook vs reference", () => {
  for (const [ai, arch] of ARCHS.entries()) {
    it(`${arch} SAE: a mixed batch agrees to 1e-4 whatever the chunks; a failed condition is bit-exact`, async () => {
      const w = randomLlama({ rotary: "half", nLayers: 3 }, 500 + ai);
      const sae = randomSae(arch, w.config.dModel, 64, 60 + ai, { applyBDecToInput: ai !== 1 });
      const session = await hookedSession(w, [{ layer: LAYER, sae }, { layer: OTHER, sae: randomSae("relu", w.config.dModel, 16, 99) }]);
      const plain = await plainSession(w);
      const features = steeringFeatures(w, sae);
      const condFeatures = conditionFeatures(w, sae, features);
      const plainSpec: SteeringSpec = { layer: LAYER, positions: "generated", features, strength: 1.25 };

      // The reference's condition values at the conditional rows' last prompt tokens; thresholds around them.
      const valueOf = (p: number[]) => {
        let o: ReferenceOutcome | undefined;
        referenceForward(w, newKvCache(w), p, { onResidual: steeringHook(sae, { ...plainSpec, condition: { features: condFeatures, threshold: 0 } }, p.length, (x) => (o = x)) });
        return o!.value;
      };
      const [v1, v2] = [valueOf(PROMPTS[1]!), valueOf(PROMPTS[2]!)];
      expect(Math.abs(v1)).toBeGreaterThan(0.05);
      expect(Math.abs(v2)).toBeGreaterThan(0.05);
      const holds = { features: condFeatures, threshold: v1 - 0.05 };
      const fails = { features: condFeatures, threshold: v2 + 0.05 };
      const steer: RowSteering = { features, strength: 1.25, positions: "generated", promptLength: N };
      const rows: (RowSteering | null)[] = [steer, { ...steer, condition: holds }, { ...steer, condition: fails }, null];
      const specs: (SteeringSpec | null)[] = [plainSpec, { ...plainSpec, condition: holds }, { ...plainSpec, condition: fails }, null];
      const ref = specs.map((s, b) => reference(w, sae, PROMPTS[b]!, s));
      expect(ref[1]!.outcome).toEqual({ value: v1, steer: true });
      expect(ref[2]!.outcome).toEqual({ value: v2, steer: false });
      // Steering is really on for rows 0 and 1.
      for (const b of [0, 1]) expect(Math.max(...ref[b]!.logits.map((l, t) => maxAbsDiff(l, reference(w, sae, PROMPTS[b]!, null).logits[t]!)))).toBeGreaterThan(1e-2);

      for (const chunks of CHUNKINGS) {
        const got = await graphRun(session, w, rows, chunks);
        // The model without a hook, same batch and chunks: what rows 2 and 3 must be, bit for bit.
        const unhooked = (await graphRun(plain, w, null, chunks)).logits;
        expect(Math.abs(got.cond[1]! - v1), `${chunks}: condition value, row 1`).toBeLessThan(TOL);
        expect(Math.abs(got.cond[2]! - v2), `${chunks}: condition value, row 2`).toBeLessThan(TOL);
        expect([got.cond[0], got.cond[3]]).toEqual([undefined, undefined]);
        got.logits.forEach((row, b) => {
          expect(row).toHaveLength(N + DECODE.length);
          row.forEach((l, t) => expect(maxAbsDiff(l, ref[b]!.logits[t]!), `${chunks}: row ${b} position ${t}`).toBeLessThan(TOL));
        });
        for (const b of [2, 3]) {
          got.logits[b]!.forEach((l, t) => expect(Buffer.compare(Buffer.from(l.buffer), Buffer.from(unhooked[b]![t]!.buffer)), `${chunks}: row ${b} position ${t} bit for bit`).toBe(0));
        }
      }
    });
  }

  it("skips all hook work when no row is steered or conditional (cond and acts empty)", async () => {
    const w = randomLlama({ nLayers: 3 }, 510);
    const session = await hookedSession(w, [{ layer: LAYER, sae: randomSae("topk", w.config.dModel, 32, 3, { k: 4 }) }]);
    const p = PROMPTS[0]!;
    const r = await runSteeredStep(session, w.config, [p], [p.map((_, i) => i)], [p.map(() => 1)], emptyPast(w.config, 1), { [LAYER]: layerStepInputs([null], N, [0]) });
    expect(r.outputs[steerCond(LAYER)]!.dims).toEqual([0, 0]);
    expect(r.outputs[steerActs(LAYER)]!.dims).toEqual([0, 0, 0]);
  });
});
