/**
 * Reference fixtures from Hugging Face transformers (../shared/models/archref,
 * README there): a checkpoint folder plus `reference.json` with what
 * transformers computes for it. This module reads them and measures how far
 * our numbers are from theirs; archref.test.ts holds the thresholds.
 *
 * `STEERGUARD_ARCHREF=DIR` points the test at another set of fixtures of the
 * same layout (every sub-folder with a reference.json is one fixture).
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";

export const DEFAULT_ARCHREF = resolve(import.meta.dirname, "../../../shared/models/archref");

export interface ArchrefSequence {
  input_ids: number[];
  /** [position][vocab] logits of one full (no-cache) forward pass. */
  logits: number[][];
  argmax: number[];
  /** output_hidden_states at the last position: [0] embeddings, [L+1] block L, last = after the final norm. */
  hf_hidden_states_last_pos: number[][];
  /** Block outputs (forward hooks) at the last position: [block][dModel]. */
  block_outputs_last_pos: number[][];
  /** Prompt 0 only: [block][position][dModel]. */
  block_outputs_all_pos?: number[][][];
  greedy: { reference_tokens: number[]; max_new_tokens: number };
}

export interface ArchrefFixture {
  name: string;
  dir: string;
  modelClass: string;
  sequences: ArchrefSequence[];
}

/** The fixture folders under `root` (those holding a reference.json), by name. */
export function listArchref(root = process.env.STEERGUARD_ARCHREF || DEFAULT_ARCHREF): { name: string; dir: string }[] {
  if (!existsSync(root)) return [];
  return readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(root, e.name, "reference.json")))
    .map((e) => ({ name: e.name, dir: join(root, e.name) }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

export function readArchref(dir: string, name: string): ArchrefFixture {
  const json = JSON.parse(readFileSync(join(dir, "reference.json"), "utf8")) as { model_class?: string; sequences: ArchrefSequence[] };
  return { name, dir, modelClass: json.model_class ?? "?", sequences: json.sequences };
}

/** Largest absolute difference. */
export function maxAbs(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) throw new Error(`length ${got.length} vs reference ${want.length}`);
  let m = 0;
  for (let i = 0; i < want.length; i++) m = Math.max(m, Math.abs(got[i]! - want[i]!));
  return m;
}

/** Largest absolute difference relative to the reference vector's largest magnitude. */
export function maxRel(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let scale = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]!));
  return maxAbs(got, want) / (scale || 1);
}

/** Index of the largest value (first on ties). */
export function argmaxOf(a: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i]! > a[best]!) best = i;
  return best;
}
