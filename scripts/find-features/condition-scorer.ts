/**
 * The in-model condition computed in-process, as the sidecar computes it during
 * prefill: the profile's SAE on the unsteered layer-L residual at the last
 * prompt token, weighted and summed (condition.ts). Here it costs a forward
 * pass of its own (a model build with residual outputs,
 * sidecar/sae/activations.ts); in the sidecar it rides the prefill the
 * request needs anyway.
 *
 * Token ids come from the caller, so a caller holding the engine passes
 * `engine.promptIds(...)`: the exact chat formatting the sidecar prefills.
 */
import { createHash } from "node:crypto";
import { dirname, relative } from "node:path";
import { readManifest } from "../../sidecar/model/manifest.ts";
import type { ResidualModel } from "../../sidecar/sae/activations.ts";
import { loadSae } from "../../sidecar/sae/load.ts";
import type { Sae } from "../../sidecar/sae/types.ts";
import { checkProfileFits, loadProfile } from "../../sidecar/steering/profile.ts";
import { conditionValues, type Condition } from "./condition.ts";
import { lastTokenActivations, loadResidualModel } from "./search.ts";

export class ConditionScorer {
  private constructor(
    readonly condition: Condition,
    /** sha256 of what the value depends on besides the model: the condition, the SAE folder's path and the layer. */
    readonly hash: string,
    readonly layer: number,
    readonly contextLength: number,
    private readonly sae: Sae,
    private readonly model: ResidualModel,
  ) {}

  /** The condition of `profileFile` (the sidecar's profile parser), on the model built at `modelDir`. */
  static async load(modelDir: string, profileFile: string, log?: (m: string) => void): Promise<ConditionScorer> {
    const profile = loadProfile(profileFile);
    const { condition, layer } = profile;
    if (!condition) throw new Error(`${profileFile}: the profile has no "condition" (fit one: npm run find-features -- --condition-only --profile ${profileFile})`);
    const manifest = readManifest(modelDir);
    const sae = loadSae(profile.sae, { dModel: manifest.dims.dModel, nLayers: manifest.dims.nLayers });
    if (sae.layer !== undefined && sae.layer !== layer) throw new Error(`${profileFile}: layer ${layer}, but its SAE reads layer ${sae.layer}`);
    checkProfileFits(profile, { dSae: sae.dSae, nLayers: manifest.dims.nLayers });
    // The SAE folder as the profile names it (relative to the profile), so the hash does not depend on the checkout's path.
    const saeRef = relative(dirname(profile.file), profile.sae);
    const hash = createHash("sha256").update(JSON.stringify({ condition, sae: saeRef, layer })).digest("hex");
    const model = await loadResidualModel(modelDir, log);
    return new ConditionScorer(condition, hash, layer, manifest.dims.contextLength, sae, model);
  }

  /** Whether the sidecar would prefill this prompt at all (it refuses prompts of the context length or more). */
  fits(ids: readonly number[]): boolean {
    return ids.length > 0 && ids.length < this.contextLength;
  }

  /** Condition values of prompts (token ids); undefined for a prompt that does not fit the context. */
  async values(seqs: readonly number[][]): Promise<(number | undefined)[]> {
    const ok = seqs.map((s, i) => [s, i] as const).filter(([s]) => this.fits(s));
    const out = new Array<number | undefined>(seqs.length).fill(undefined);
    if (ok.length === 0) return out;
    const acts = await lastTokenActivations(this.model, this.sae, this.layer, ok.map(([s]) => s));
    conditionValues(this.condition, acts).forEach((v, k) => (out[ok[k]![1]] = v));
    return out;
  }

  async value(ids: readonly number[]): Promise<number | undefined> {
    return (await this.values([ids as number[]]))[0];
  }

  holds(value: number): boolean {
    return value >= this.condition.threshold;
  }

  async release(): Promise<void> {
    await this.model.release();
  }
}
