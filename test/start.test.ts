/**
 * `npm start` (scripts/start.ts): sidecar + Deno edge together, a development
 * key with a curl line when none is configured, and a clean stop on SIGTERM.
 */
import { describe, expect, it } from "vitest";
import { builtModel } from "./support/models.ts";
import { startProcess } from "./support/process.ts";

describe("npm start", () => {
  it("starts both, prints the URL and a dev key, serves a request, and stops both on SIGTERM", async () => {
    const model = await builtModel("organism260K");
    const env = { PORT: "0", SIDECAR_PORT: "0", STEERGUARD_API_KEYS: "", STEERGUARD_CONFIG: "" };
    const started = await startProcess(process.execPath, ["--import", "tsx", "scripts/start.ts", "--model", model], /Ctrl-C stops both/, { env, timeoutMs: 45_000 });
    try {
      const out = started.output();
      const url = out.match(/steerguard is up: (http:\/\/\S+)\/v1/)![1];
      const key = out.match(/development API key \(no key was configured\): (sk-dev-\S+)/)![1];
      expect(out).toContain(`curl ${url}/v1/chat/completions -H "Authorization: Bearer ${key}"`);
      expect(out).toMatch(/start: (steered routes use the sidecar's steering profile|the sidecar serves)/);
      const res = await fetch(`${url}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}` },
        body: JSON.stringify({ model: "organism260K", messages: [{ role: "user", content: "Tell me a story" }], max_tokens: 3 }),
      });
      expect(res.status).toBe(200);
      expect(res.headers.get("x-steerguard-route")).toBeTruthy();
      started.child.kill("SIGTERM");
      expect(await started.exited).toEqual({ code: 0, signal: null });
      const final = started.output();
      expect(final).toMatch(/edge: SIGTERM, shutting down/);
      expect(final).toMatch(/sidecar: SIGTERM, shutting down/);
    } finally {
      started.child.kill("SIGKILL");
    }
  });

  it("prints --help", async () => {
    const p = await startProcess(process.execPath, ["--import", "tsx", "scripts/start.ts", "--help"], /Usage: npm start/);
    expect((await p.exited).code).toBe(0);
  });
});
