/**
 * What every SAE format loader shares: reading JSON configs and safetensors
 * with the file named in errors, shape checks, TransformerLens hook names, and
 * the fit checks against the model (d_model, number of layers).
 */
import { readFileSync } from "node:fs";
import { readSafetensors, type Tensor } from "../../model/safetensors.ts";
import type { Sae } from "../types.ts";

/** What the model offers: the SAE must read d_model values at a layer below nLayers. */
export interface ModelFit {
  dModel?: number;
  nLayers?: number;
}

/** A loaded SAE and where its d_in and layer were read (for fit errors). */
export interface LoadedSae {
  sae: Sae;
  /** e.g. `/x/cfg.json: field "d_in" is 2304` */
  dInFrom: string;
  /** e.g. `/x/cfg.json: field "hook_name" is "blocks.20.hook_resid_post"`; set when sae.layer is. */
  layerFrom?: string;
}

/**
 * Throws when the SAE does not fit the model: a d_in other than d_model, or a
 * layer the model does not have. Loaders call it as soon as d_in and the layer
 * are known, before reading the weights.
 */
export function checkFit(fit: ModelFit, dIn: number, dInFrom: string, layer?: number, layerFrom?: string): void {
  if (fit.dModel !== undefined && dIn !== fit.dModel) throw new Error(`${dInFrom}, but the model's d_model is ${fit.dModel}`);
  if (fit.nLayers !== undefined && layer !== undefined && (layer < 0 || layer >= fit.nLayers)) {
    const blocks = fit.nLayers > 0 ? ` (blocks 0-${fit.nLayers - 1})` : "";
    throw new Error(`${layerFrom ?? "the SAE's config"}: layer ${layer} is out of range: the model has ${fit.nLayers} layers${blocks}`);
  }
}

/** A JSON object file, parsed. */
export function readJsonObject(file: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new Error(`${file}: cannot read JSON (${(e as Error).message})`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw new Error(`${file}: not a JSON object`);
  return json as Record<string, unknown>;
}

export function positiveInt(cfg: Record<string, unknown>, field: string, file: string, required = true): number | undefined {
  const v = cfg[field];
  if (v === undefined || v === null) {
    if (required) throw new Error(`${file}: missing field "${field}"`);
    return undefined;
  }
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1) throw new Error(`${file}: field "${field}" must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

export function boolField(cfg: Record<string, unknown>, field: string, file: string, dflt: boolean): boolean {
  const v = cfg[field] ?? dflt;
  if (typeof v !== "boolean") throw new Error(`${file}: field "${field}" must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

export function stringField(cfg: Record<string, unknown>, field: string, file: string): string | undefined {
  const v = cfg[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw new Error(`${file}: field "${field}" must be a string, got ${JSON.stringify(v)}`);
  return v;
}

/** A tensor of a known shape (`names` spells the shape, e.g. "d_in, d_sae"). */
export function shaped(tensors: Map<string, Tensor>, name: string, shape: number[], names: string, file: string): Float32Array {
  const t = tensors.get(name);
  if (!t) throw new Error(`${file}: missing tensor "${name}" (found: ${[...tensors.keys()].join(", ") || "none"})`);
  const ok = t.shape.length === shape.length && t.shape.every((s, i) => s === shape[i]);
  if (!ok) throw new Error(`${file}: tensor "${name}" has shape [${t.shape.join(", ")}], expected [${names}] = [${shape.join(", ")}]`);
  return t.data;
}

/** Every tensor of a safetensors file, as float32; errors name the file. */
export function readTensors(file: string): Map<string, Tensor> {
  try {
    return readSafetensors(file);
  } catch (e) {
    const msg = (e as Error).message;
    throw new Error(msg.startsWith(file) ? msg : `${file}: ${msg}`);
  }
}

/**
 * [rows, cols] row-major to [cols, rows] row-major, each element optionally
 * multiplied by a factor of its source row and one of its source column.
 * In 64 x 64 tiles, so that neither side is walked with a large stride.
 */
export function transpose(src: Float32Array, rows: number, cols: number, scale: { row?: ArrayLike<number>; col?: ArrayLike<number> } = {}): Float32Array {
  const out = new Float32Array(rows * cols);
  const { row, col } = scale;
  const T = 64;
  for (let r0 = 0; r0 < rows; r0 += T) {
    const r1 = Math.min(r0 + T, rows);
    for (let c0 = 0; c0 < cols; c0 += T) {
      const c1 = Math.min(c0 + T, cols);
      for (let c = c0; c < c1; c++) {
        const cs = col ? col[c] : 1;
        const at = c * rows;
        if (row) for (let r = r0; r < r1; r++) out[at + r] = src[r * cols + c] * row[r] * cs;
        else for (let r = r0; r < r1; r++) out[at + r] = src[r * cols + c] * cs;
      }
    }
  }
  return out;
}

/**
 * TransformerLens hook name -> layer in DESIGN.md's convention (the output of
 * block L): `blocks.L.hook_resid_post` -> L, `blocks.L.hook_resid_pre` -> L - 1.
 * Other hook points of a block (`hook_mlp_out`, `hook_attn_out`, `attn.hook_z`,
 * `hook_resid_mid`, `ln2.hook_normalized`, ...) and the embeddings are not the
 * residual stream between blocks that steering hooks read: refused. Names in
 * another convention give undefined (the caller must be told the layer).
 */
export function layerFromHookName(hookName: string, file: string, field = "hook_name"): number | undefined {
  const at = `${file}: field "${field}" is ${JSON.stringify(hookName)}`;
  const m = /^blocks\.(\d+)\.hook_resid_(post|pre)$/.exec(hookName);
  if (m) {
    const block = Number(m[1]);
    if (m[2] === "post") return block;
    if (block === 0) throw new Error(`${at}: the input of block 0 (the embeddings) is not a hookable residual layer`);
    return block - 1;
  }
  if (/^blocks\.\d+\./.test(hookName) || /^hook_(pos_)?embed$/.test(hookName)) {
    throw new Error(
      `${at}: this SAE reads another site than the residual stream between blocks; ` +
        `steering hooks read blocks.L.hook_resid_post (or blocks.L+1.hook_resid_pre)`,
    );
  }
  return undefined;
}
