/**
 * The edge runs under Deno with the permissions of edge/permissions.ts, not
 * -A: the real edge serves a chat request end to end (fake sidecar) and
 * writes its event file under them; the edge process, configured to write an
 * events file where its launch granted nothing, is refused by Deno and
 * creates nothing; and a probe run under the very same flags shows what
 * they allow and what not (a write outside the events directory, a read of
 * another file, another environment variable, a subprocess all fail).
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EDGE_ENV, LIBRARY_ENV, edgeDenoArgs, edgePermissionFlags } from "../edge/permissions.ts";
import { SECOND_STAGE_READ } from "../edge/risk/second-stage.ts";
import { DENO, startEdge } from "./support/edge.ts";
import { startFakeSidecar, type FakeSidecar } from "./support/fake-sidecar.ts";
import { REPO_ROOT, startProcess } from "./support/process.ts";
import { tempDir } from "./support/tmp.ts";

const KEY = "perm-key";

async function eventually<T>(get: () => T | undefined, timeoutMs = 3_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("edge permissions", () => {
  let fake: FakeSidecar;
  beforeAll(async () => {
    fake = await startFakeSidecar({ modelId: "organism260K" });
  });
  afterAll(async () => {
    await fake?.close();
  });

  it("every launcher's command: no -A, only the listed env, read of the config, artifact and second stage, write of the events directory, FFI for onnxruntime-node", () => {
    const dir = tempDir("edge-perm-args-");
    const config = join(dir, "config.json");
    writeFileSync(config, JSON.stringify({ events: { path: "events/decisions.jsonl" }, classifier: { artifact: "/models/risk.json" } }));
    const args = edgeDenoArgs(["--port", "0"], { env: { STEERGUARD_CONFIG: config }, cwd: "/srv/edge" });
    expect(args).toEqual([
      "run",
      "--no-prompt",
      "--allow-net",
      `--allow-read=${config},/models/risk.json,${SECOND_STAGE_READ.map((p) => `/srv/edge/${p}`).join(",")}`,
      `--allow-env=${[...EDGE_ENV, ...LIBRARY_ENV].join(",")}`,
      "--allow-write=/srv/edge/events",
      "--allow-ffi=/srv/edge/node_modules/onnxruntime-node",
      "edge/main.ts",
      "--port",
      "0",
    ]);
    // No config: the shipped artifact and the second stage's files only, and no write at all; --config wins over the environment.
    const stage2 = SECOND_STAGE_READ.map((p) => `/r/${p}`).join(",");
    expect(edgeDenoArgs([], { env: {}, cwd: "/r" })).toEqual(["run", "--no-prompt", "--allow-net", `--allow-read=/r/edge/classifier/risk-model.v2.json,${stage2}`, expect.stringMatching(/^--allow-env=/), "--allow-ffi=/r/node_modules/onnxruntime-node", "edge/main.ts"]);
    expect(edgeDenoArgs(["--config=/b.json"], { env: { STEERGUARD_CONFIG: "/a.json" }, cwd: "/r", readText: () => "{}" })[3]).toBe(`--allow-read=/b.json,/r/edge/classifier/risk-model.v2.json,${stage2}`);
    // The second stage off: neither its files nor FFI.
    const off = edgeDenoArgs([], { env: { STEERGUARD_CONFIG: "/a.json" }, cwd: "/r", readText: () => JSON.stringify({ classifier: { second_stage: false } }) });
    expect(off).toEqual(["run", "--no-prompt", "--allow-net", "--allow-read=/a.json,/r/edge/classifier/risk-model.v2.json", expect.stringMatching(/^--allow-env=/), "edge/main.ts"]);
  });

  it("the real edge serves a chat request end to end under them and writes its event", async () => {
    const edge = await startEdge((dir) => ({ sidecars: [fake.address], events: { path: join(dir, "events.jsonl") } }), { env: { STEERGUARD_API_KEYS: KEY } });
    try {
      const res = await fetch(`${edge.url}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json", "x-request-id": "perm-1" },
        body: JSON.stringify({ model: "organism260K", messages: [{ role: "user", content: "Tell me a story about a dog" }] }),
      });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { choices: { message: { content: string } }[] }).choices[0]!.message.content).toBe("fake reply");
      const line = await eventually(() => (existsSync(join(edge.dir, "events.jsonl")) ? readFileSync(join(edge.dir, "events.jsonl"), "utf8").trim() || undefined : undefined));
      expect(JSON.parse(line)).toMatchObject({ request_id: "perm-1", status: 200, backend: "sidecar" });
      expect(edge.output()).toMatch(/classifier classifier \d/); // the trained classifier loaded (read permission), not the fallback
    } finally {
      edge.child.kill("SIGTERM");
      await edge.exited;
    }
  });

  it("the edge process cannot write where its launch granted nothing", async () => {
    const granted = tempDir("edge-perm-granted-");
    const elsewhere = tempDir("edge-perm-elsewhere-");
    const configPath = join(granted, "config.json");
    // Launched for a config without an events file (no write permission at all) ...
    const flags = edgePermissionFlags({ configPath, configText: "{}", cwd: REPO_ROOT });
    expect(flags.some((f) => f.startsWith("--allow-write"))).toBe(false);
    // ... while the config it reads names an events file elsewhere.
    const target = join(elsewhere, "sub", "events.jsonl");
    writeFileSync(configPath, JSON.stringify({ sidecars: [fake.address], events: { path: target } }));
    const run = startProcess(DENO, ["run", ...flags, "edge/main.ts", "--port", "0"], /edge listening on/, { env: { STEERGUARD_CONFIG: configPath, STEERGUARD_API_KEYS: KEY, NO_COLOR: "1" } });
    await expect(run).rejects.toThrow(/code 2,.*Requires write access to "[^"]*edge-perm-elsewhere-[^"]*sub"/s);
    expect(existsSync(join(elsewhere, "sub"))).toBe(false);
  });

  it("a probe under the same flags: writes outside the events directory, other reads, other env and subprocesses fail", async () => {
    const dir = tempDir("edge-perm-probe-");
    const outside = tempDir("edge-perm-outside-");
    const configPath = join(dir, "config.json");
    const configText = JSON.stringify({ events: { path: join(dir, "events", "e.jsonl") } });
    writeFileSync(configPath, configText);
    const probe = join(dir, "probe.ts");
    writeFileSync(
      probe,
      `const D = (globalThis as any).Deno;
const tryIt = async (name: string, f: () => unknown) => {
  try { await f(); console.log(name + ": allowed"); } catch (e) { console.log(name + ": " + (e as Error).name); }
};
await tryIt("write events dir", () => D.mkdir(${JSON.stringify(join(dir, "events"))}, { recursive: true }).then(() => D.writeTextFile(${JSON.stringify(join(dir, "events", "e.jsonl"))}, "x")));
await tryIt("write outside", () => D.writeTextFile(${JSON.stringify(join(outside, "pwned.txt"))}, "x"));
await tryIt("write next to the config", () => D.writeTextFile(${JSON.stringify(join(dir, "pwned.txt"))}, "x"));
await tryIt("write into the repository", () => D.writeTextFile(${JSON.stringify(join(REPO_ROOT, "pwned.txt"))}, "x"));
await tryIt("read config", () => D.readTextFile(${JSON.stringify(configPath)}));
await tryIt("read artifact", () => D.readTextFile(${JSON.stringify(join(REPO_ROOT, "edge/classifier/risk-model.v2.json"))}));
await tryIt("read package.json", () => D.readTextFile(${JSON.stringify(join(REPO_ROOT, "package.json"))}));
await tryIt("read /etc/passwd", () => D.readTextFile("/etc/passwd"));
await tryIt("env STEERGUARD_API_KEYS", () => D.env.get("STEERGUARD_API_KEYS"));
await tryIt("env HOME", () => D.env.get("HOME"));
await tryIt("env all", () => D.env.toObject());
await tryIt("run a subprocess", () => new D.Command("true").output());
await tryIt("system info", () => D.hostname());
console.log("probe done");
`,
    );
    const p = await startProcess(DENO, ["run", ...edgePermissionFlags({ configPath, configText, cwd: REPO_ROOT }), probe], /probe done/, { env: { NO_COLOR: "1" } });
    await p.exited;
    const results = Object.fromEntries(
      p
        .output()
        .split("\n")
        .filter((l) => l.includes(": "))
        .map((l) => l.split(": ") as [string, string]),
    );
    expect(results).toEqual({
      "write events dir": "allowed",
      "write outside": "NotCapable",
      "write next to the config": "NotCapable",
      "write into the repository": "NotCapable",
      "read config": "allowed",
      "read artifact": "allowed",
      "read package.json": "NotCapable",
      "read /etc/passwd": "NotCapable",
      "env STEERGUARD_API_KEYS": "allowed",
      "env HOME": "NotCapable",
      "env all": "NotCapable",
      "run a subprocess": "NotCapable",
      "system info": "NotCapable",
    });
    expect(existsSync(join(outside, "pwned.txt"))).toBe(false);
    expect(existsSync(join(REPO_ROOT, "pwned.txt"))).toBe(false);
  });
});
