/**
 * A root filesystem for a FROM-scratch image: an executable and the shared
 * libraries `ldd` names for it (and for any native add-ons), copied at the
 * paths the dynamic loader looks for them.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";

/** Absolute paths of the libraries `ldd` lists for `file` (the loader included; vdso and $ORIGIN neighbours not). */
export function sharedLibraries(file: string, besideFile = false): string[] {
  const out = execFileSync("ldd", [file], { encoding: "utf8" });
  const libs: string[] = [];
  for (const line of out.split("\n")) {
    const m = line.match(/(?:=>\s*)?(\/\S+)\s+\(0x/);
    if (!m) continue;
    // Libraries found beside the file (onnxruntime's, via its RPATH) travel with it.
    if (!besideFile && dirname(m[1]!) === dirname(file)) continue;
    libs.push(m[1]!);
  }
  if (!libs.length) throw new Error(`ldd found no libraries for ${file}:\n${out}`);
  return libs;
}

/** Copies `src` to `root` + `dest` (symlinks followed), creating directories, keeping the mode. */
export function copyInto(root: string, src: string, dest = src, mode?: number): void {
  const target = join(root, dest);
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(src, target);
  if (mode !== undefined) chmodSync(target, mode);
}

/** Copies the libraries of each of `files` into `root` at their own paths (each once). */
export function copyLibraries(root: string, files: readonly string[]): string[] {
  const libs = [...new Set(files.flatMap((f) => sharedLibraries(f)))].sort();
  for (const lib of libs) copyInto(root, lib);
  return libs;
}

/** The directories a read-only image still needs (mount points for emptyDirs and Secrets). */
export function makeDirs(root: string, dirs: readonly string[]): void {
  for (const d of dirs) {
    mkdirSync(join(root, d), { recursive: true });
    chmodSync(join(root, d), d === "tmp" ? 0o1777 : 0o755);
  }
}
