/**
 * Starts the real edge under Deno, with the permissions every launcher uses
 * (edge/permissions.ts), and a config written to a temporary file (removed
 * after the test file, test/support/tmp.ts); resolves with its base URL.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ConfigInput } from "../../edge/config/index.ts";
import { edgeDenoArgs } from "../../edge/permissions.ts";
import { REPO_ROOT, startProcess } from "./process.ts";
import { tempDir } from "./tmp.ts";

export const DENO = join(REPO_ROOT, "node_modules/.bin/deno");

/** `deno` arguments that run the edge with `args` as the launchers do, for the environment `env`. */
export function edgeArgs(args: string[], env: Record<string, string | undefined> = {}): string[] {
  return edgeDenoArgs(args, { env: { ...process.env, ...env }, cwd: REPO_ROOT });
}

/** `config` may be a function of the edge's temporary directory (e.g. to put its events file there). */
export async function startEdge(config: ConfigInput | ((dir: string) => ConfigInput), opts: { env?: Record<string, string>; timeoutMs?: number } = {}) {
  const dir = tempDir("steerguard-edge-");
  const configPath = join(dir, "config.json");
  writeFileSync(configPath, JSON.stringify(typeof config === "function" ? config(dir) : config));
  const env = { STEERGUARD_CONFIG: configPath, NO_COLOR: "1", ...opts.env };
  const started = await startProcess(DENO, edgeArgs(["--port", "0"], env), /edge listening on (http:\/\/\S+)\n/, {
    timeoutMs: opts.timeoutMs ?? 30_000,
    env,
  });
  return { ...started, url: started.match[1]!, dir };
}
