/**
 * Built models for tests: ../shared/models sources built once into
 * .cache/test-models (rebuilt when the source changes), safe when several
 * test files ask at the same time.
 */
import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { buildModel, isBuildCurrent } from "../../sidecar/model/build.ts";
import { REPO_ROOT } from "./process.ts";

export const SHARED_MODELS = join(REPO_ROOT, "../shared/models");

/** A built model directory for ../shared/models/<name>. */
export async function builtModel(name: "stories260K" | "stories260K-hf" | "organism260K"): Promise<string> {
  const from = join(SHARED_MODELS, name);
  const out = join(REPO_ROOT, ".cache/test-models", name);
  if (await isBuildCurrent(from, out)) return out;
  // Build beside the target, then swap it in with one rename.
  const tmp = `${out}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  mkdirSync(tmp, { recursive: true });
  await buildModel({ from, out: tmp, id: name });
  if (await isBuildCurrent(from, out)) {
    rmSync(tmp, { recursive: true, force: true });
    return out;
  }
  rmSync(out, { recursive: true, force: true });
  try {
    renameSync(tmp, out);
  } catch (err) {
    // Another worker won the race.
    if (!existsSync(out)) throw err;
    rmSync(tmp, { recursive: true, force: true });
  }
  return out;
}
