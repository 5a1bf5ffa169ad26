/**
 * The two heavy phases of find-features:
 *
 * 1. `featureActivations`: chat-formatted prompts through the model (a build
 *    with residual outputs, sidecar/sae/activations.ts), the layer-L residual
 *    of every prompt token encoded with the SAE (sidecar/sae/encode.ts). Per
 *    prompt it keeps every feature's activation at the last prompt token (the
 *    ":" of "Assistant:", where the refuse-or-comply decision is made) and
 *    averaged over the prompt's tokens (position 0, BOS, left out as in SAE
 *    training).
 *    `lastTokenActivations` keeps the last token only (the condition's input).
 * 2. `SteeringRunner`: greedy generations through the engine (the ONNX graph
 *    with the in-graph steering hook, sidecar/engine), one temporary profile
 *    per steering setting, all sharing the SAE at its layer.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GenerateRequest } from "../../proto/gen/steerguard/v1/sidecar.ts";
import { Engine } from "../../sidecar/engine/engine.ts";
import { ResidualModel, residualModelDir } from "../../sidecar/sae/activations.ts";
import { encode } from "../../sidecar/sae/encode.ts";
import type { Sae } from "../../sidecar/sae/types.ts";
import type { SteeringMode, SteeringPositions } from "../../sidecar/steering/profile.ts";
import type { LastActs } from "./condition.ts";
import type { PromptActs } from "./stats.ts";

export async function featureActivations(
  model: ResidualModel,
  sae: Sae,
  layer: number,
  prompts: readonly string[],
  onProgress?: (done: number) => void,
): Promise<PromptActs> {
  const seqs = prompts.map((p) => model.encodeChatPrompt(p));
  const resid = await model.collect(seqs, layer, { skipFirst: true });
  const D = model.dModel;
  const F = sae.dSae;
  const last = new Float32Array(prompts.length * F);
  const mean = new Float32Array(prompts.length * F);
  let off = 0;
  for (let i = 0; i < seqs.length; i++) {
    const n = seqs[i].length - 1;
    const acc = new Float64Array(F);
    for (let t = 0; t < n; t++) {
      const f = encode(sae, resid.subarray((off + t) * D, (off + t + 1) * D));
      for (let j = 0; j < F; j++) if (f[j] !== 0) acc[j] += f[j];
      if (t === n - 1) last.set(f, i * F);
    }
    for (let j = 0; j < F; j++) mean[i * F + j] = n > 0 ? acc[j] / n : 0;
    off += n;
    onProgress?.(i + 1);
  }
  return { n: prompts.length, dSae: F, last, mean };
}

/**
 * Every feature's activation at the last token of each sequence (token ids as
 * the sidecar prefills them: chat-formatted, BOS first): [n, dSae]. The
 * in-model condition reads exactly this (condition.ts).
 */
export async function lastTokenActivations(model: ResidualModel, sae: Sae, layer: number, seqs: readonly number[][], onProgress?: (tokens: number) => void): Promise<LastActs> {
  for (const [i, s] of seqs.entries()) if (s.length === 0) throw new Error(`lastTokenActivations: sequence ${i} is empty`);
  const resid = await model.collect(seqs as number[][], layer, { onProgress });
  const D = model.dModel;
  const F = sae.dSae;
  const last = new Float32Array(seqs.length * F);
  let off = 0;
  for (let i = 0; i < seqs.length; i++) {
    off += seqs[i]!.length;
    last.set(encode(sae, resid.subarray((off - 1) * D, off * D)), i * F);
  }
  return { n: seqs.length, dSae: F, last };
}

export async function loadResidualModel(modelDir: string, log?: (m: string) => void): Promise<ResidualModel> {
  return ResidualModel.load(await residualModelDir(modelDir, { log }), { threads: 1 });
}

/** One steering setting: a single feature steered one way (or none: the baseline). */
export interface Setting {
  /** Profile name: unique, e.g. "f396-clamp4". */
  id: string;
  role: "baseline" | "candidate" | "control";
  feature?: number;
  mode?: SteeringMode;
  value?: number;
  positions?: SteeringPositions;
}

export const settingLabel = (s: Setting) =>
  s.role === "baseline" ? "unsteered" : `${s.mode} ${s.mode === "scale" ? "x" : ""}${s.value} @ ${s.positions}`;

/** The engine with one profile per (non-baseline) setting. */
export class SteeringRunner {
  private constructor(private readonly engine: Engine, private readonly work: string, readonly maxTokens: number) {}

  static async load(modelDir: string, saeDir: string, layer: number, settings: readonly Setting[], opts: { maxTokens: number; maxBatch?: number }): Promise<SteeringRunner> {
    const work = mkdtempSync(join(tmpdir(), "sg-find-features-"));
    const files: string[] = [];
    for (const s of settings) {
      if (s.role === "baseline") continue;
      const f = join(work, `${s.id}.json`);
      writeFileSync(f, JSON.stringify({ name: s.id, sae: saeDir, layer, positions: s.positions, features: [{ index: s.feature, mode: s.mode, value: s.value }] }));
      files.push(f);
    }
    const maxBatch = opts.maxBatch ?? 16;
    const engine = await Engine.load(modelDir, { profiles: files, profileDirs: [], maxBatch, maxQueue: 1024, intraOpThreads: 1 });
    return new SteeringRunner(engine, work, opts.maxTokens);
  }

  /** Greedy responses (text) to chat-formatted prompts under one setting. */
  async generate(setting: Setting, prompts: readonly string[]): Promise<string[]> {
    const steering = setting.role === "baseline" ? undefined : { profile: setting.id, strength: 1 };
    return Promise.all(prompts.map(async (p, i) => {
      const req = GenerateRequest.fromPartial({
        requestId: `${setting.id}-${i}`,
        input: { $case: "conversation", value: { messages: [{ role: "user", content: p }] } },
        sampling: { temperature: 0, maxTokens: this.maxTokens },
        steering,
      });
      let text = "";
      for await (const c of this.engine.generate(req, new AbortController().signal)) text += c.text;
      return text;
    }));
  }

  async close(): Promise<void> {
    await this.engine.close();
    rmSync(this.work, { recursive: true, force: true });
  }
}
