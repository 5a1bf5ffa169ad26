/** Default locations: the repo root, the shared data folder beside it, the shipped artifact. */
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const DEFAULT_DATA_DIR = resolve(REPO_ROOT, "../shared/data");
export const DEFAULT_ARTIFACT = resolve(REPO_ROOT, "edge/classifier/risk-model.v2.json");
