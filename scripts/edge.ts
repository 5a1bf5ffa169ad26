/**
 * `npm run edge -- [edge options]`: runs edge/main.ts under Deno with the
 * permissions edge/permissions.ts computes from the environment and the
 * config file (no -A). Every argument goes to the edge (`--help` prints its
 * help); `--deno-command` instead prints the deno command line, for running
 * the edge without Node. The edge runs in its own process group, so a Ctrl-C
 * reaches it once (through here: a second signal would make it exit at once);
 * SIGINT / SIGTERM / SIGHUP are passed on; the exit code is the edge's.
 */
import { spawn } from "node:child_process";
import { constants } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { edgeDenoArgs } from "../edge/permissions.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const DENO = join(ROOT, "node_modules/.bin/deno");

const quote = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);

const args = process.argv.slice(2);
const printOnly = args.includes("--deno-command");
const denoArgs = edgeDenoArgs(
  args.filter((a) => a !== "--deno-command"),
  { env: process.env, cwd: ROOT },
);
if (printOnly) {
  process.stdout.write(`cd ${quote(ROOT)} && ${[DENO, ...denoArgs].map(quote).join(" ")}\n`);
} else {
  const child = spawn(DENO, denoArgs, { cwd: ROOT, stdio: "inherit", detached: true });
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(sig, () => child.kill(sig));
  child.on("error", (err) => {
    process.stderr.write(`edge: cannot run deno: ${err.message}\n`);
    process.exit(1);
  });
  child.on("exit", (code, signal) => process.exit(code ?? 128 + (signal ? constants.signals[signal] : 0)));
}
