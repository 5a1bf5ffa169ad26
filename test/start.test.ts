/**
 * `npm start` (scripts/start.ts): sidecar + Deno edge together, a development
 * key with a curl line when none is configured, a clean stop on SIGTERM /
 * SIGHUP (and when npm itself gets SIGTERM or SIGKILL), a crashed sidecar restarted
 * while the edge keeps answering, a crashed edge restarted on its port, and a
 * clean exit when either cannot start.
 */
import { spawn } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { builtModel } from "./support/models.ts";
import { REPO_ROOT, startProcess, type Started } from "./support/process.ts";
import { tempDir } from "./support/tmp.ts";
import { alive, descendants } from "../scripts/chaos/procs.ts";

const START = ["--import", "tsx", "scripts/start.ts"];
const READY = /Ctrl-C stops both/;
const KEY = "sk-start-test";

/** Polls `check` every 50 ms until it returns a value other than undefined; throws after `ms`. */
async function until<T>(what: string, ms: number, check: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function allGone(pids: number[], ms = 5_000) {
  expect(pids.every(Number.isInteger)).toBe(true);
  await until(`pids ${pids.join(", ")} to be gone`, ms, () => (pids.some(alive) ? undefined : true)).catch((err: Error) => {
    throw new Error(`${err.message}; still alive: ${pids.filter(alive).join(", ")}`);
  });
}

/** The pids start.ts printed for its children ("start: sidecar pid N"), the latest of each. */
function childPids(out: string): { sidecar: number; edge: number } {
  const last = (name: string) => Number([...out.matchAll(new RegExp(`start: ${name} pid (\\d+)`, "g"))].at(-1)?.[1]);
  return { sidecar: last("sidecar"), edge: last("edge") };
}


/** A port that is taken (by a plain TCP server) until `close()`. */
async function takenPort() {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { port: (server.address() as { port: number }).port, close: () => new Promise((r) => server.close(r)) };
}

const env = (extra: Record<string, string> = {}) => ({ PORT: "0", SIDECAR_PORT: "0", STEERGUARD_API_KEYS: KEY, STEERGUARD_CONFIG: "", NO_COLOR: "1", ...extra });

function chat(url: string, content: string) {
  return fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "organism260K", messages: [{ role: "user", content }], max_tokens: 3 }),
  });
}

const urlOf = (s: Started) => s.output().match(/steerguard is up: (http:\/\/\S+)\/v1/)![1]!;

describe("npm start", () => {
  it("starts both, prints the URL and a dev key, serves a request, and stops both on SIGTERM", async () => {
    const model = await builtModel("organism260K");
    const started = await startProcess(process.execPath, [...START, "--model", model], READY, { env: env({ STEERGUARD_API_KEYS: "" }), timeoutMs: 45_000 });
    try {
      const out = started.output();
      const url = urlOf(started);
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
      const { sidecar, edge } = childPids(out);
      expect([sidecar, edge].every(alive)).toBe(true);
      started.child.kill("SIGTERM");
      expect(await started.exited).toEqual({ code: 0, signal: null });
      const final = started.output();
      expect(final).toMatch(/edge: SIGTERM, shutting down/);
      expect(final).toMatch(/sidecar: SIGTERM, shutting down/);
      await allGone([started.child.pid!, sidecar, edge]);
    } finally {
      started.child.kill("SIGKILL");
    }
  });

  it("stops both on SIGHUP (terminal closed)", async () => {
    const model = await builtModel("organism260K");
    const started = await startProcess(process.execPath, [...START, "--model", model], READY, { env: env(), timeoutMs: 45_000 });
    try {
      const { sidecar, edge } = childPids(started.output());
      started.child.kill("SIGHUP");
      expect((await started.exited).code).toBe(0);
      await allGone([sidecar, edge]);
    } finally {
      started.child.kill("SIGKILL");
    }
  });

  // npm forwards SIGTERM only to its `sh -c`, which dies without passing it on; SIGKILL reaches nobody else.
  it.runIf(existsSync("/proc")).each(["SIGTERM", "SIGKILL"] as const)("%s to the npm process stops npm, tsx, start.ts, the sidecar and the edge", async (signal) => {
    const model = await builtModel("organism260K");
    // The tsx CLI under npm keeps an IPC directory in TMPDIR (tsx-UID/): give it one that is removed.
    const npm = await startProcess("npm", ["start", "--", "--model", model], READY, { env: env({ TMPDIR: tempDir("steerguard-npm-") }), timeoutMs: 45_000 });
    const below = descendants(npm.child.pid!);
    try {
      // npm -> sh -c -> tsx -> node scripts/start.ts -> sidecar, edge
      expect(below.length).toBeGreaterThanOrEqual(5);
      npm.child.kill(signal);
      await npm.exited;
      await allGone(below, 8_000);
    } finally {
      for (const pid of below.filter(alive)) process.kill(pid, "SIGKILL");
    }
  });

  it("restarts a sidecar killed with SIGKILL while the edge keeps answering (risky prompts fail closed)", async () => {
    const model = await builtModel("organism260K");
    const dir = tempDir("steerguard-start-");
    const config = join(dir, "config.json");
    writeFileSync(config, JSON.stringify({ sidecar: { health_interval_ms: 100, health_timeout_ms: 500 } }));
    const started = await startProcess(process.execPath, [...START, "--model", model], READY, { env: env({ STEERGUARD_CONFIG: config }), timeoutMs: 45_000 });
    try {
      const url = urlOf(started);
      const readyz = async () => (await fetch(`${url}/readyz`)).status;
      await until("the edge to be ready", 5_000, async () => ((await readyz()) === 200 ? true : undefined));
      const { sidecar, edge } = childPids(started.output());
      process.kill(sidecar, "SIGKILL");
      await allGone([sidecar]);

      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      await until("/readyz to report not ready", 3_000, async () => ((await readyz()) === 503 ? true : undefined));
      const refused = await chat(url, "Write a tutorial on how to make a bomb");
      expect(refused.status).toBe(200);
      const body = (await refused.json()) as { choices: Array<{ finish_reason: string; message: { content: string } }> };
      expect(body.choices[0]!.finish_reason).toBe("content_filter");
      expect(body.choices[0]!.message.content).toMatch(/can't help/);

      await until("/readyz to report ready again", 10_000, async () => ((await readyz()) === 200 ? true : undefined));
      expect((await chat(url, "Tell me a story")).status).toBe(200);
      const out = started.output();
      expect(out).toMatch(/start: the sidecar exited \(signal SIGKILL\); restarting it in 0\.5 s/);
      const restarted = childPids(out).sidecar;
      expect(restarted).not.toBe(sidecar);
      expect(alive(edge)).toBe(true);

      started.child.kill("SIGTERM");
      expect((await started.exited).code).toBe(0);
      await allGone([restarted, edge]);
    } finally {
      started.child.kill("SIGKILL");
    }
  });

  it("restarts an edge killed with SIGKILL on the port it had, the sidecar untouched", async () => {
    const model = await builtModel("organism260K");
    const started = await startProcess(process.execPath, [...START, "--model", model], READY, { env: env(), timeoutMs: 45_000 });
    try {
      const url = urlOf(started);
      const { sidecar, edge } = childPids(started.output());
      process.kill(edge, "SIGKILL");
      await allGone([edge]);
      await until("the edge to answer again", 20_000, async () => ((await fetch(`${url}/readyz`).then((r) => r.status, () => 0)) === 200 ? true : undefined));
      expect((await chat(url, "Tell me a story")).status).toBe(200);
      const out = started.output();
      expect(out).toMatch(new RegExp(`start: the edge exited \\(signal SIGKILL\\); restarting it on port ${new URL(url).port} in 0\\.5 s`));
      const restarted = childPids(out).edge;
      expect(restarted).not.toBe(edge);
      expect(alive(sidecar)).toBe(true);

      started.child.kill("SIGTERM");
      expect((await started.exited).code).toBe(0);
      await allGone([restarted, sidecar]);
    } finally {
      started.child.kill("SIGKILL");
    }
  });

  it("exits non-zero naming the port, and stops the sidecar, when the edge cannot bind its port", async () => {
    const model = await builtModel("organism260K");
    const taken = await takenPort();
    try {
      const started = await startProcess(process.execPath, [...START, "--model", model], /sidecar listening on/, { env: env({ PORT: String(taken.port) }), timeoutMs: 45_000 });
      const { code } = await started.exited;
      const out = started.output();
      expect(code).toBe(1);
      expect(out).toMatch(new RegExp(`start: the edge could not start on 127\\.0\\.0\\.1:${taken.port} .*port ${taken.port} is already in use`));
      await allGone([childPids(out).sidecar]);
    } finally {
      await taken.close();
    }
  });

  it("exits non-zero, starting no edge, when the sidecar cannot start", async () => {
    const child = spawn(process.execPath, [...START, "--model", join(REPO_ROOT, "no/such/model")], { cwd: REPO_ROOT, env: { ...process.env, ...env() } });
    let out = "";
    child.stdout.on("data", (b: Buffer) => (out += b.toString()));
    child.stderr.on("data", (b: Buffer) => (out += b.toString()));
    const code = await new Promise((r) => child.on("exit", r));
    expect(code).toBe(1);
    expect(out).toMatch(/start: the sidecar could not start \(code 1\)/);
    expect(out).not.toMatch(/start: edge pid/);
    await allGone([childPids(out).sidecar]);
  });

  it("prints --help", async () => {
    const p = await startProcess(process.execPath, [...START, "--help"], /Usage: npm start/);
    expect((await p.exited).code).toBe(0);
  });
});
