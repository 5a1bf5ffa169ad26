/**
 * `npm start`: the sidecar and the edge together on the default model.
 *
 * Starts the sidecar (sidecar/main.ts; every argument is passed to it, e.g.
 * `npm start -- --from DIR`), waits until it listens, then starts the edge
 * under Deno pointed at it, and prints the URL. With no API key configured
 * anywhere it makes a random development key and prints a ready curl line.
 * Ctrl-C or SIGTERM stops both (edge first, then the sidecar) and exits 0.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseConfigText } from "../edge/config/index.ts";
import { connectSidecar, unary } from "../proto/client.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const DENO = join(ROOT, "node_modules/.bin/deno");

const HELP = `steerguard: start the sidecar and the edge together

Usage: npm start -- [sidecar options]

Every option is passed to the sidecar (npm run sidecar -- --help lists them),
e.g. --from DIR (another checkpoint) or --model DIR (a built model).

Environment:
  PORT                  edge port (default 8787; 0 picks a free one)
  SIDECAR_PORT          sidecar gRPC port (default 50051; 0 picks a free one)
  STEERGUARD_CONFIG     edge config file (edge/config/README.md)
  STEERGUARD_STEERING_PROFILE  steering profile of steered routes; without it (and without
                        a config file) the sidecar's "refusal" profile, or its only one
  STEERGUARD_API_KEYS   comma-separated API keys; when no key is configured
                        anywhere, a random development key is made and printed

Ctrl-C or SIGTERM stops both processes.
`;

function keysConfigured(): boolean {
  if ((process.env.STEERGUARD_API_KEYS ?? "").split(",").some((k) => k.trim())) return true;
  const path = process.env.STEERGUARD_CONFIG;
  if (!path) return false;
  const config = parseConfigText(readFileSync(path, "utf8"), path);
  return config.auth.keys.length > 0 || config.auth.disabled;
}

/** Spawns a child, echoing its output with a prefix, and resolves with the first match of `ready`. */
function launch(name: string, command: string, args: string[], env: NodeJS.ProcessEnv, ready: RegExp) {
  const child = spawn(command, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  let buffered = "";
  const echo = (stream: NodeJS.WritableStream) => (buf: Buffer) => {
    for (const line of buf.toString().split(/(?<=\n)/)) if (line.trim()) stream.write(line.startsWith(name) ? line : `${name}: ${line}`.replace(/([^\n])$/, "$1\n"));
  };
  child.stderr!.on("data", echo(process.stderr));
  const readyMatch = new Promise<RegExpMatchArray>((resolve, reject) => {
    child.stdout!.on("data", (buf: Buffer) => {
      echo(process.stdout)(buf);
      buffered += buf.toString();
      const m = buffered.match(ready);
      if (m) {
        buffered = "";
        resolve(m);
      }
    });
    child.on("exit", (code, signal) => reject(new Error(`${name} exited (code ${code}, signal ${signal}) before it was ready`)));
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, readyMatch, exited };
}

/** Names of the steering profiles the sidecar serves ([] when Info fails). */
async function sidecarProfiles(address: string): Promise<string[]> {
  const clients = connectSidecar(address);
  try {
    const info = await unary(clients.sidecar.info.bind(clients.sidecar), {}, 5_000);
    return info.profiles.map((p) => p.name);
  } catch {
    return [];
  } finally {
    clients.close();
  }
}

async function main() {
  const args = process.argv.slice(2);
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(HELP);
    return;
  }
  const children: Array<{ name: string; child: ChildProcess; exited: Promise<number | null> }> = [];
  let stopping = false;
  const stop = async (why: string, code: number) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`start: ${why}, stopping\n`);
    // Edge first (it drains requests), then the sidecar.
    for (const c of [...children].reverse()) {
      if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill("SIGTERM");
      const t = setTimeout(() => c.child.kill("SIGKILL"), 15_000);
      await c.exited;
      clearTimeout(t);
    }
    process.exit(code);
  };
  process.on("SIGINT", () => void stop("SIGINT", 0));
  process.on("SIGTERM", () => void stop("SIGTERM", 0));

  let devKey: string | null = null;
  const env = { ...process.env };
  if (!keysConfigured()) {
    devKey = `sk-dev-${randomBytes(18).toString("base64url")}`;
    env.STEERGUARD_API_KEYS = devKey;
  }

  const sidecar = launch("sidecar", process.execPath, ["--import", "tsx", "sidecar/main.ts", ...args], env, /sidecar listening on (\S+)\n/);
  children.push({ name: "sidecar", ...sidecar });
  void sidecar.exited.then((code) => void stop(`the sidecar exited (code ${code})`, 1));
  const address = (await sidecar.readyMatch)[1]!;

  // The default profile: what the sidecar serves, unless the operator chose.
  if (env.STEERGUARD_STEERING_PROFILE === undefined && !env.STEERGUARD_CONFIG) {
    const profiles = await sidecarProfiles(address);
    const pick = profiles.includes("refusal") ? "refusal" : profiles.length === 1 ? profiles[0] : "";
    env.STEERGUARD_STEERING_PROFILE = pick;
    process.stdout.write(
      pick
        ? `start: steered routes use the sidecar's steering profile "${pick}"\n`
        : `start: the sidecar serves ${profiles.length ? `several profiles (${profiles.join(", ")}); set STEERGUARD_STEERING_PROFILE` : "no steering profile"}: steered routes run without steering\n`,
    );
  }

  const edge = launch("edge", DENO, ["run", "-A", "edge/main.ts"], { ...env, STEERGUARD_SIDECARS: address, NO_COLOR: "1" }, /edge listening on (http:\/\/\S+)\n/);
  children.push({ name: "edge", ...edge });
  void edge.exited.then((code) => void stop(`the edge exited (code ${code})`, 1));
  const url = (await edge.readyMatch)[1]!;

  const lines = [
    "",
    `steerguard is up: ${url}/v1 (OpenAI-compatible; sidecar gRPC on ${address})`,
    `  health ${url}/readyz   metrics ${url}/metrics`,
  ];
  if (devKey) {
    const body = JSON.stringify({ model: "organism260K", messages: [{ role: "user", content: "Tell me a story about a dog" }] });
    lines.push(
      `  development API key (no key was configured): ${devKey}`,
      `  curl ${url}/v1/chat/completions -H "Authorization: Bearer ${devKey}" -H "Content-Type: application/json" -d '${body}'`,
    );
  }
  lines.push("  Ctrl-C stops both.", "");
  process.stdout.write(lines.join("\n") + "\n");
}

main().catch((err) => {
  process.stderr.write(`start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
