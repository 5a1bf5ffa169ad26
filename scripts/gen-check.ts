/**
 * Fails when the committed generated code in proto/gen differs from a fresh
 * `buf generate` of the .proto files: someone changed a .proto without
 * running `npm run gen`.
 *
 *   npm run gen:check [-- --proto DIR]
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const REPO = fileURLToPath(new URL("..", import.meta.url));
const HELP = `Usage: npm run gen:check -- [--proto DIR]

Regenerates the TypeScript code for the .proto files in DIR (default: proto/)
into a temporary folder and compares it with DIR/gen. Exits 0 when they are
identical, 1 (listing the files) when they differ.
`;

function listFiles(dir: string): string[] {
  let out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    out = statSync(p).isDirectory() ? out.concat(listFiles(p)) : out.concat(p);
  }
  return out;
}

/** Files that differ between two trees, as paths relative to their roots. */
export function diffTrees(a: string, b: string): string[] {
  const rel = (root: string) => new Set(listFiles(root).map((p) => relative(root, p)));
  const left = rel(a);
  const right = rel(b);
  const all = [...new Set([...left, ...right])].sort();
  return all.filter((f) => !left.has(f) || !right.has(f) || !readFileSync(join(a, f)).equals(readFileSync(join(b, f))));
}

function main(): number {
  const { values } = parseArgs({ options: { proto: { type: "string" }, help: { type: "boolean", short: "h" } } });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const protoDir = resolve(values.proto ?? join(REPO, "proto"));
  const out = mkdtempSync(join(tmpdir(), "steerguard-gen-"));
  try {
    execFileSync(join(REPO, "node_modules/.bin/buf"), ["generate", "-o", out], { cwd: protoDir, stdio: ["ignore", "inherit", "inherit"] });
    const differing = diffTrees(join(protoDir, "gen"), join(out, "gen"));
    if (differing.length > 0) {
      process.stderr.write(`generated code is out of date (run \`npm run gen\`):\n${differing.map((f) => `  proto/gen/${f}`).join("\n")}\n`);
      return 1;
    }
    process.stdout.write("generated code is up to date\n");
    return 0;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) process.exit(main());
