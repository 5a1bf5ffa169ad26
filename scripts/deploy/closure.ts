/**
 * Which installed packages a set of root packages needs at run time, read
 * from package-lock.json (lockfile v2/v3 "packages"): each root and its
 * dependencies (and optional ones that are installed), resolved the way Node
 * does, from the requiring package's own node_modules upwards.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

interface LockPackage {
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  dev?: boolean;
}

/** Where Node finds `name` when required from the package at `from` ("" = the root). */
function resolveIn(packages: Record<string, LockPackage>, from: string, name: string): string | null {
  let dir = from;
  for (;;) {
    const candidate = `${dir ? `${dir}/` : ""}node_modules/${name}`;
    if (packages[candidate]) return candidate;
    if (!dir) return null;
    const up = dir.lastIndexOf("/node_modules/");
    dir = up < 0 ? "" : dir.slice(0, up);
  }
}

/**
 * The lockfile paths ("node_modules/a", "node_modules/a/node_modules/b") of
 * `roots` and everything they depend on, sorted. `exclude` names packages not
 * wanted at run time (e.g. what only an install script uses). A root that is
 * not installed throws.
 */
export function packageClosure(repo: string, roots: readonly string[], exclude: readonly string[] = []): string[] {
  const lock = JSON.parse(readFileSync(join(repo, "package-lock.json"), "utf8")) as { packages: Record<string, LockPackage> };
  const seen = new Set<string>();
  const visit = (from: string, name: string, optional: boolean) => {
    if (exclude.includes(name)) return;
    const path = resolveIn(lock.packages, from, name);
    if (path === null) {
      if (optional) return;
      throw new Error(`package ${name} (needed by ${from || "the root"}) is not in package-lock.json`);
    }
    if (seen.has(path)) return;
    seen.add(path);
    const pkg = lock.packages[path]!;
    for (const dep of Object.keys(pkg.dependencies ?? {})) visit(path, dep, false);
    for (const dep of Object.keys(pkg.optionalDependencies ?? {})) visit(path, dep, true);
  };
  for (const root of roots) visit("", root, false);
  return [...seen].sort();
}
