/**
 * Steering profiles: JSON files naming an SAE, the layer it hooks, which
 * positions are steered and how each selected feature is steered.
 *
 *   {"name": "refusal", "sae": "sae-dir", "layer": 2, "positions": "all" | "generated",
 *    "features": [{"index": 5, "mode": "clamp" | "scale" | "add", "value": 6.0}],
 *    "condition": {"features": [{"index": 396, "weight": 1.0}], "threshold": 0.83, "description": "…"},
 *    "description": "…"}
 *
 * `condition` (optional; positions "generated" only) is the in-model gate of
 * conditional steering (IBM's CAST): a request that asks for it is steered
 * only when sum_i weight_i * f_i(x) >= threshold at the last prompt token,
 * f_i being the profile's SAE features on the unsteered residual at its layer
 * (./reference.ts conditionValue). `sae` is relative to the profile's folder (absolute paths are kept). The
 * math is in ../../../shared/DESIGN.md and ./reference.ts.
 */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import * as v from "valibot";

export const STEERING_MODES = ["clamp", "scale", "add"] as const;
export type SteeringMode = (typeof STEERING_MODES)[number];
export type SteeringPositions = "all" | "generated";

const NonNegInt = v.pipe(v.number(), v.integer("must be an integer"), v.minValue(0, "must be >= 0"));
const Finite = v.pipe(v.number(), v.finite("must be a finite number"));

export const ConditionSchema = v.strictObject({
  features: v.pipe(
    v.array(v.strictObject({ index: NonNegInt, weight: Finite })),
    v.minLength(1, "must list at least one feature"),
  ),
  threshold: Finite,
  description: v.optional(v.string(), ""),
});

export const ProfileSchema = v.strictObject({
  name: v.pipe(v.string(), v.regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "must be letters, digits, '.', '_' or '-'")),
  sae: v.pipe(v.string(), v.minLength(1, "must not be empty")),
  layer: NonNegInt,
  positions: v.picklist(["all", "generated"], 'must be "all" or "generated"'),
  features: v.pipe(
    v.array(
      v.strictObject({
        index: NonNegInt,
        mode: v.picklist(STEERING_MODES, 'must be "clamp", "scale" or "add"'),
        value: Finite,
      }),
    ),
    v.minLength(1, "must list at least one feature"),
  ),
  condition: v.optional(ConditionSchema),
  description: v.optional(v.string(), ""),
});

export type ProfileJson = v.InferOutput<typeof ProfileSchema>;

export interface SteeringFeature {
  index: number;
  mode: SteeringMode;
  value: number;
}

/** One feature of a condition: its SAE index and its weight in the sum. */
export interface ConditionFeature {
  index: number;
  weight: number;
}

/** The in-model condition of conditional steering (see the top of this file). */
export interface SteeringCondition {
  features: ConditionFeature[];
  threshold: number;
  description: string;
}

export interface SteeringProfile {
  name: string;
  /** Absolute path of the SAE folder. */
  sae: string;
  layer: number;
  positions: SteeringPositions;
  features: SteeringFeature[];
  /** Absent: the profile cannot be asked for conditionally. */
  condition?: SteeringCondition;
  description: string;
  /** The file it was read from (absolute), or "<inline>". */
  file: string;
}

/** Validates parsed JSON as a profile; `file` names it in errors and anchors the SAE path. */
export function parseProfile(json: unknown, file: string): SteeringProfile {
  const result = v.safeParse(ProfileSchema, json);
  if (!result.success) {
    const issues = result.issues.map((i) => `${v.getDotPath(i) ?? "(root)"}: ${i.message}`).join("; ");
    throw new Error(`${file}: invalid steering profile: ${issues}`);
  }
  const p = result.output;
  const seen = new Set<number>();
  p.features.forEach((f, i) => {
    if (seen.has(f.index)) throw new Error(`${file}: invalid steering profile: features.${i}.index: feature ${f.index} is listed twice`);
    seen.add(f.index);
  });
  if (p.condition) checkCondition(p.condition, p.positions, file);
  const base = file === "<inline>" ? process.cwd() : dirname(resolve(file));
  return {
    name: p.name,
    sae: resolve(base, p.sae),
    layer: p.layer,
    positions: p.positions,
    features: p.features.map((f) => ({ index: f.index, mode: f.mode, value: f.value })),
    ...(p.condition && {
      condition: {
        features: p.condition.features.map((f) => ({ index: f.index, weight: f.weight })),
        threshold: p.condition.threshold,
        description: p.condition.description,
      },
    }),
    description: p.description,
    file: file === "<inline>" ? file : resolve(file),
  };
}

/**
 * A condition is decided at the last prompt token, so it can only gate the
 * positions from there on ("generated"): with "all" the prompt positions
 * before it would already have been steered, or not, without it.
 */
function checkCondition(c: NonNullable<ProfileJson["condition"]>, positions: SteeringPositions, file: string): void {
  const bad = (field: string, message: string) => new Error(`${file}: invalid steering profile: ${field}: ${message}`);
  if (positions !== "generated") throw bad("condition", 'needs positions "generated" (the condition is decided at the last prompt token, after the earlier prompt positions)');
  const seen = new Set<number>();
  c.features.forEach((f, i) => {
    if (seen.has(f.index)) throw bad(`condition.features.${i}.index`, `feature ${f.index} is listed twice`);
    seen.add(f.index);
  });
}

/** Reads and validates a profile JSON file. */
export function loadProfile(file: string): SteeringProfile {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new Error(`${file}: cannot read steering profile (${(e as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: steering profile is not valid JSON (${(e as Error).message})`);
  }
  return parseProfile(json, file);
}

/**
 * Checks a profile against an SAE's width and the model's layers, with the
 * profile file named in the message.
 */
export function checkProfileFits(p: SteeringProfile, dims: { dSae: number; nLayers: number }): void {
  if (p.layer >= dims.nLayers) throw new Error(`${p.file}: layer: ${p.layer} is out of range (the model has ${dims.nLayers} layers)`);
  p.features.forEach((f, i) => {
    if (f.index >= dims.dSae) throw new Error(`${p.file}: features.${i}.index: ${f.index} is out of range (the SAE has ${dims.dSae} features)`);
  });
  p.condition?.features.forEach((f, i) => {
    if (f.index >= dims.dSae) throw new Error(`${p.file}: condition.features.${i}.index: ${f.index} is out of range (the SAE has ${dims.dSae} features)`);
  });
}
