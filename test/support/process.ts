/**
 * Helpers for cross-process tests: start a real process, wait for the line
 * that says it is ready, and stop it.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { tempDir } from "./tmp.ts";

export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

/**
 * Runs a repo script (`script`, relative to the repo root) through the tsx CLI
 * to its end, from the repo root. The tsx CLI keeps an IPC directory in
 * TMPDIR (tsx-UID/): each run gets one that is removed after the test file.
 */
export function runScript(script: string, args: readonly string[], timeoutMs?: number): SpawnSyncReturns<string> {
  const env = { ...process.env, TMPDIR: tempDir("sg-tsx-cli-") };
  return spawnSync(join(REPO_ROOT, "node_modules/.bin/tsx"), [join(REPO_ROOT, script), ...args], { encoding: "utf8", cwd: REPO_ROOT, timeout: timeoutMs, env });
}

export interface Started {
  child: ChildProcess;
  /** Everything the process has printed so far (stdout and stderr). */
  output(): string;
  /** The regex match of the ready line. */
  match: RegExpMatchArray;
  /** Resolves with the exit code and signal once the process is gone. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Spawns `command args` in the repo root and resolves when stdout matches
 * `ready`; rejects if the process exits first or `timeoutMs` passes.
 */
export function startProcess(
  command: string,
  args: string[],
  ready: RegExp,
  { timeoutMs = 30_000, env = {} }: { timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<Started> {
  const child = spawn(command, args, { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal })),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`timed out waiting for ${ready} from ${command} ${args.join(" ")}; output:\n${out}`));
    }, timeoutMs);
    const onData = (buf: Buffer) => {
      out += buf.toString();
      const match = out.match(ready);
      if (match) {
        clearTimeout(timer);
        resolve({ child, output: () => out, match, exited });
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", (buf: Buffer) => (out += buf.toString()));
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`${command} exited (code ${code}, signal ${signal}) before ready; output:\n${out}`));
    });
  });
}

/** Sends `signal` to each started process (skipping any that never started) and waits until all are gone. */
export async function stopProcesses(started: readonly (Pick<Started, "child" | "exited"> | undefined)[], signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  for (const s of started) s?.child.kill(signal);
  await Promise.all(started.map((s) => s?.exited));
}

/** Starts the sidecar with tsx on a free port; resolves with its address. */
export async function startSidecar(args: string[], opts?: { timeoutMs?: number; env?: Record<string, string> }) {
  const started = await startProcess(process.execPath, ["--import", "tsx", "sidecar/main.ts", "--port", "0", ...args], /sidecar listening on (\S+)\n/, opts);
  return { ...started, address: started.match[1]! };
}
