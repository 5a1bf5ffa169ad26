/**
 * Loads the shipped artifact from disk under Deno or Node. The scorer itself
 * (model.ts) never touches the file system; this is the only file that does.
 */
import { RiskModel } from "./model.ts";

/** File name of the shipped artifact, next to this module. */
export const ARTIFACT_FILE = "risk-model.v2.json";
export const DEFAULT_ARTIFACT_URL = new URL(`./${ARTIFACT_FILE}`, import.meta.url);

interface DenoLike {
  readTextFile(path: string | URL): Promise<string>;
}

/** Reads the artifact's JSON text (Deno.readTextFile under Deno, node:fs under Node). */
export async function readArtifactText(path: string | URL = DEFAULT_ARTIFACT_URL): Promise<string> {
  const deno = (globalThis as { Deno?: DenoLike }).Deno;
  if (deno) return deno.readTextFile(path);
  const fs = await import("node:fs/promises");
  return fs.readFile(path, "utf8");
}

/** Loads the model: `await loadRiskModel()` for the shipped artifact. */
export async function loadRiskModel(path: string | URL = DEFAULT_ARTIFACT_URL): Promise<RiskModel> {
  return RiskModel.fromArtifact(await readArtifactText(path));
}
