/**
 * edge/main.ts under Deno: --help, and refusing to start on a bad config or
 * without any API key (exit 2 with the reason).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DENO, edgeArgs } from "./support/edge.ts";
import { startProcess } from "./support/process.ts";
import { tempDir } from "./support/tmp.ts";

function configFile(text: string): string {
  const path = join(tempDir("edge-main-"), "config.json");
  writeFileSync(path, text);
  return path;
}

const run = (overrides: Record<string, string>) => {
  const env = { NO_COLOR: "1", PORT: "0", STEERGUARD_CONFIG: "", STEERGUARD_API_KEYS: "", ...overrides };
  return startProcess(DENO, edgeArgs([], env), /edge listening on/, { env });
};

describe("edge/main.ts", () => {
  it("prints --help, and exits 2 on a bad config, a missing key or a bad port", async () => {
    const help = startProcess(DENO, edgeArgs(["--help"]), /Usage: npm run edge -- \[options\][^]*Permissions \(edge\/permissions\.ts; no -A\)/);
    const badConfig = run({ STEERGUARD_CONFIG: configFile('{"classifier": {"threshold": 7}, "experiments": [{"name": "e", "arms": []}]}'), STEERGUARD_API_KEYS: "k" });
    const noKey = run({});
    const badPort = run({ STEERGUARD_API_KEYS: "k", PORT: "http" });
    const [h, ...failures] = await Promise.allSettled([help, badConfig, noKey, badPort]);
    for (const f of failures) if (f.status === "fulfilled") f.value.child.kill("SIGKILL");
    expect(h.status).toBe("fulfilled");
    const reasons = failures.map((f) => (f.status === "rejected" ? String(f.reason) : "started"));
    expect(reasons[0]).toMatch(/code 2.*classifier\.threshold.*experiments\.0\.arms/s);
    expect(reasons[1]).toMatch(/code 2.*no API keys configured/s);
    expect(reasons[2]).toMatch(/code 2.*PORT must be an integer/s);
  });
});
