/**
 * Podman for the deploy test: installed with apt when missing (root only),
 * run rootful with runc and explicit ulimits from a containers.conf of our
 * own (CONTAINERS_CONF), since crun fails on this kind of machine's cgroups
 * and rlimits. Images are never pulled.
 */
import { execFile, execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const CONTAINERS_CONF = `# Written by scripts/deploy/podman.ts for npm run deploy:test.
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
`;

export interface Podman {
  /** Runs podman; throws with its stderr on failure; gives stdout (or "" with inherit). */
  run(args: readonly string[], opts?: { inherit?: boolean; timeoutMs?: number }): string;
  /** Runs podman without blocking the event loop; gives stdout. */
  runAsync(args: readonly string[]): Promise<string>;
  /** Runs podman; null instead of throwing. */
  tryRun(args: readonly string[]): string | null;
  /** A container's log, its stdout and stderr both (podman logs replays each on its own stream). */
  logs(container: string): string;
  env: NodeJS.ProcessEnv;
}

const has = (cmd: string) => spawnSync(cmd, ["--version"], { stdio: "ignore" }).status === 0;

/** catatonit: the init `podman kube play` builds its pause image from (a Recommends of Debian's podman). */
const hasCatatonit = () => ["/usr/bin/catatonit", "/usr/libexec/podman/catatonit"].some((p) => existsSync(p));

/** Installs podman, runc and catatonit with apt-get when missing; throws when that cannot be done. */
export function ensurePodmanInstalled(log: (m: string) => void): void {
  if (has("podman") && has("runc") && hasCatatonit()) return;
  if (process.getuid?.() !== 0) throw new Error("podman, runc and catatonit are needed: apt-get install -y podman runc catatonit (as root)");
  log("installing podman, runc and catatonit with apt-get");
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const apt = (args: string[]) => execFileSync("apt-get", args, { env, stdio: ["ignore", "ignore", "inherit"] });
  try {
    apt(["install", "-y", "--no-install-recommends", "podman", "runc", "catatonit"]);
  } catch {
    apt(["update"]);
    apt(["install", "-y", "--no-install-recommends", "podman", "runc", "catatonit"]);
  }
}

/** A podman runner with our containers.conf written into `cacheDir`. */
export function podman(cacheDir: string): Podman {
  mkdirSync(cacheDir, { recursive: true });
  const conf = join(cacheDir, "containers.conf");
  writeFileSync(conf, CONTAINERS_CONF);
  const env = { ...process.env, CONTAINERS_CONF: conf };
  /** Runs podman; throws with its stderr on failure; gives both its outputs. */
  const spawn = (args: readonly string[], opts: { inherit?: boolean; timeoutMs?: number } = {}) => {
    const r = spawnSync("podman", args, {
      env,
      encoding: "utf8",
      stdio: ["ignore", opts.inherit ? "inherit" : "pipe", opts.inherit ? "inherit" : "pipe"],
      timeout: opts.timeoutMs ?? 600_000,
      maxBuffer: 64 << 20,
    });
    if (r.status !== 0) throw new Error(`podman ${args.join(" ")} failed (${r.status ?? r.signal}): ${(r.stderr ?? "").trim()}`);
    return { stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
  };
  const run = (args: readonly string[], opts: { inherit?: boolean; timeoutMs?: number } = {}) => spawn(args, opts).stdout;
  const runAsync = (args: readonly string[]) =>
    new Promise<string>((resolve, reject) =>
      execFile("podman", args, { env, maxBuffer: 64 << 20 }, (err, stdout, stderr) => (err ? reject(new Error(`podman ${args.join(" ")} failed: ${stderr.trim() || err.message}`)) : resolve(stdout))),
    );
  return {
    run,
    runAsync,
    logs: (container) => {
      const { stdout, stderr } = spawn(["logs", container]);
      return stdout + stderr;
    },
    tryRun: (args) => {
      try {
        return run(args);
      } catch {
        return null;
      }
    },
    env,
  };
}
