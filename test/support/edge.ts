/**
 * Starts the real edge under Deno (`deno run -A edge/main.ts`) with a config
 * written to a temporary file; resolves with its base URL.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ConfigInput } from "../../edge/config/index.ts";
import { REPO_ROOT, startProcess } from "./process.ts";

export const DENO = join(REPO_ROOT, "node_modules/.bin/deno");

export async function startEdge(config: ConfigInput, opts: { env?: Record<string, string>; timeoutMs?: number } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "steerguard-edge-"));
  const configPath = join(dir, "config.json");
  writeFileSync(configPath, JSON.stringify(config));
  const started = await startProcess(DENO, ["run", "-A", "edge/main.ts", "--port", "0"], /edge listening on (http:\/\/\S+)\n/, {
    timeoutMs: opts.timeoutMs ?? 30_000,
    env: { STEERGUARD_CONFIG: configPath, NO_COLOR: "1", ...opts.env },
  });
  return { ...started, url: started.match[1]!, dir };
}
