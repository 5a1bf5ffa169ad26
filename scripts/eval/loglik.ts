/**
 * Log-likelihood of given continuations, for multiple-choice benchmarks
 * (MMLU, ARC, TruthfulQA MC). Built on the engine's OnnxDecoder (the same
 * graph, SAE hook included): one prefill of prompt + continuation, and the sum
 * over continuation tokens of log-softmax(logits at the previous position).
 *
 * Steering is fed exactly as the scheduler feeds a prefill
 * (sidecar/steering/inputs.ts): the profile's hook is on at every position
 * ("all") or from the last prompt token on ("generated"), so a continuation is
 * scored under the same steering it would have been generated under.
 */
import { readManifest, type Manifest } from "../../sidecar/model/manifest.ts";
import { OnnxDecoder } from "../../sidecar/engine/decoder.ts";
import { layerStepInputs } from "../../sidecar/steering/inputs.ts";
import { loadProfiles, prepareModel, type LoadedProfile } from "../../sidecar/steering/registry.ts";

/** Sum of log p(ids[i] | ids[<i]) for i in [start, ids.length), from [len, V] logits. */
export function continuationLogprob(logits: Float32Array, vocab: number, ids: readonly number[], start: number): { logprob: number; greedy: boolean } {
  let sum = 0;
  let greedy = true;
  for (let i = Math.max(1, start); i < ids.length; i++) {
    const row = logits.subarray((i - 1) * vocab, i * vocab);
    let max = -Infinity;
    let arg = 0;
    for (let v = 0; v < vocab; v++) if (row[v]! > max) ((max = row[v]!), (arg = v));
    let z = 0;
    for (let v = 0; v < vocab; v++) z += Math.exp(row[v]! - max);
    sum += row[ids[i]!]! - max - Math.log(z);
    if (arg !== ids[i]) greedy = false;
  }
  return { logprob: sum, greedy };
}

export interface ScoreResult {
  /** Sum of continuation token log-probabilities (natural log). */
  logprob: number;
  /** Continuation tokens scored. */
  tokens: number;
  /** Every continuation token is the argmax. */
  greedy: boolean;
}

export class LoglikScorer {
  private constructor(
    private readonly decoder: OnnxDecoder,
    readonly manifest: Manifest,
    private readonly profile: LoadedProfile | undefined,
  ) {}

  /** Opens the model (with the profile's SAE attached when the build lacks it). */
  static async load(modelDir: string, opts: { profile?: string; intraOpThreads?: number } = {}): Promise<LoglikScorer> {
    const manifest = readManifest(modelDir);
    const profiles = loadProfiles({ files: opts.profile ? [opts.profile] : [], dirs: [] }, manifest);
    const prepared = prepareModel(modelDir, manifest, profiles.values());
    const decoder = await OnnxDecoder.load(modelDir, prepared.manifest, { intraOpThreads: opts.intraOpThreads ?? 1 }, prepared.attached.length ? prepared.model : undefined);
    return new LoglikScorer(decoder, prepared.manifest, [...profiles.values()][0]);
  }

  get contextLength(): number {
    return this.manifest.dims.contextLength;
  }

  /**
   * Scores `ids` from `contStart` on (the continuation). `promptLength` is where
   * "generated" steering starts (its last prompt token, promptLength - 1);
   * `strength` undefined = unsteered (gate 0).
   */
  async score(ids: readonly number[], contStart: number, promptLength: number, strength?: number): Promise<ScoreResult> {
    const n = ids.length;
    if (n > this.contextLength) throw new Error(`scoring ${n} tokens; the model's context is ${this.contextLength}`);
    const { vocabSize } = this.manifest.dims;
    let steering;
    if (strength !== undefined) {
      if (!this.profile) throw new Error("steered scoring needs a profile");
      const p = this.profile.profile;
      steering = { [p.layer]: layerStepInputs([{ features: p.features, strength, positions: p.positions, promptLength }], n, [0]) };
    }
    const out = await this.decoder.prefill(ids, { steering });
    const r = continuationLogprob(out.logits, vocabSize, ids, contStart);
    return { ...r, tokens: n - contStart };
  }

  async close(): Promise<void> {
    await this.decoder.release();
  }
}
