/**
 * The two OCI images, built FROM scratch out of local material only: the
 * binaries this checkout already has (node_modules' deno, the running node),
 * the libraries ldd names for them, the application files, and the pruned
 * set of node_modules each process loads. The Containerfiles live in
 * deploy/images/<name>/; this stages their build context and runs podman.
 *
 * edge:    /usr/bin/deno + /app/{edge,proto} (the files `deno info` lists for
 *          edge/main.ts), the classifier artifact, the npm packages it loads,
 *          DENO_DIR pre-filled at build time; entrypoint = `deno run` with the
 *          permissions of edge/permissions.ts for the chart's fixed paths.
 * sidecar: /usr/bin/node + /app/dist/sidecar.mjs (sidecar/main.ts bundled by
 *          esbuild, dist/replica-worker.mjs for --replicas and
 *          dist/tokenizer-worker.mjs for long prompts; onnxruntime-node,
 *          grpc-js and grpc-health-check stay packages: native code, .proto
 *          files read from disk), the built default model (organism260K) and
 *          the shipped steering profiles.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { DEFAULT_ARTIFACT, EDGE_ENV, EDGE_MAIN, LIBRARY_ENV, edgePermissionFlags } from "../../edge/permissions.ts";
import { SECOND_STAGE_READ } from "../../edge/risk/second-stage.ts";
import { resolveModelDir } from "../../sidecar/model-source.ts";
import { packageClosure } from "./closure.ts";
import type { Podman } from "./podman.ts";
import { copyInto, copyLibraries, makeDirs } from "./rootfs.ts";

export const REPO = fileURLToPath(new URL("../../", import.meta.url));
const IMAGES = join(REPO, "deploy/images");

/** Paths inside the images that the chart relies on (deploy/helm/steerguard/values.yaml). */
export const IMAGE_PATHS = {
  app: "/app",
  /** Edge config file, TLS material, a custom classifier artifact: mounted here (read-only). */
  edgeEtc: "/etc/steerguard",
  edgeConfig: "/etc/steerguard/config/config.json",
  /** Writable (emptyDir) for the edge's events.path. */
  edgeEvents: "/var/lib/steerguard/events",
  model: "/app/models/organism260K",
  profiles: "/app/steering",
  preStop: "/app/prestop.mjs",
} as const;

/** The non-root user both images run as. */
export const IMAGE_USER = "65532:65532";

export type ImageName = "edge" | "sidecar";

export interface StagedImage {
  name: ImageName;
  /** The build context: Containerfile + rootfs/. */
  dir: string;
  /** SHA-256 of everything in the context: the image is rebuilt only when it changes. */
  contentHash: string;
}

const version = () => (JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { version: string }).version;

/** `localhost/steerguard-NAME:VERSION` (never pulled: --pull=never). */
export const imageRef = (name: ImageName) => `localhost/steerguard-${name}:${version()}`;

/** A package.json for the image naming only the packages it carries. */
function trimmedPackageJson(root: string, packages: readonly string[]): void {
  const pkg = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { name: string; version: string; type: string; dependencies: Record<string, string> };
  const top = packages.filter((p) => p.split("node_modules/").length === 2).map((p) => p.slice("node_modules/".length));
  const deps = Object.fromEntries(top.filter((n) => pkg.dependencies[n]).map((n) => [n, pkg.dependencies[n]!]));
  writeFileSync(join(root, "app/package.json"), JSON.stringify({ name: pkg.name, version: pkg.version, private: true, type: pkg.type, dependencies: deps }, null, 2) + "\n");
}

/** What a running process never reads: sources maps, type declarations, docs. */
const PRUNE = /(\.map|\.d\.ts|\.d\.mts|\.d\.cts|\.md|\.markdown|LICENSE\.txt|\.tsbuildinfo)$/i;

/** Copies lockfile package paths into ROOT/app, skipping PRUNE and `skip(relPath)`. */
function copyPackages(root: string, packages: readonly string[], skip: (rel: string) => boolean = () => false): void {
  for (const p of packages) {
    cpSync(join(REPO, p), join(root, "app", p), {
      recursive: true,
      dereference: true,
      filter: (src) => {
        const rel = relative(REPO, src);
        // Nested node_modules are separate lockfile entries, copied on their own when needed.
        if (rel !== p && relative(join(REPO, p), src).split("/").includes("node_modules")) return false;
        return !PRUNE.test(src) && !skip(rel);
      },
    });
  }
}

/** The repository files and npm packages `deno info` finds for the edge. */
function edgeModules(deno: string): { files: string[]; packages: string[] } {
  const info = JSON.parse(execFileSync(deno, ["info", "--json", EDGE_MAIN], { cwd: REPO, encoding: "utf8" })) as { modules: { specifier: string; error?: string }[] };
  const broken = info.modules.filter((m) => m.error).map((m) => `  ${m.error}`);
  if (broken.length) throw new Error(`deno info ${EDGE_MAIN}: the edge does not load:\n${broken.join("\n")}`);
  const files: string[] = [];
  const packages = new Set<string>();
  for (const { specifier } of info.modules) {
    if (!specifier.startsWith("file://")) continue;
    const rel = relative(REPO, fileURLToPath(specifier));
    const pkg = rel.match(/^node_modules\/((?:@[^/]+\/)?[^/]+)/);
    if (!pkg) files.push(rel);
    else if (!pkg[1]!.startsWith("@types/")) packages.add(pkg[1]!);
  }
  return { files, packages: [...packages] };
}

/**
 * The edge's entrypoint: `deno run` with edge/permissions.ts's flags for the
 * image's paths (config at IMAGE_PATHS.edgeConfig, events under
 * IMAGE_PATHS.edgeEvents), reads widened to the mounted /etc/steerguard
 * (config, TLS files, an operator's classifier artifact).
 */
export function edgeEntrypoint(): string[] {
  const flags = edgePermissionFlags({
    configPath: IMAGE_PATHS.edgeConfig,
    configText: JSON.stringify({ events: { path: `${IMAGE_PATHS.edgeEvents}/events.jsonl` } }),
    cwd: IMAGE_PATHS.app,
  });
  // The reads edgePermissionFlags grants, with all of /etc/steerguard (config, TLS files, an artifact) in place of the config file.
  const widen = (f: string) => `--allow-read=${f.slice("--allow-read=".length).split(",").map((p) => (p === IMAGE_PATHS.edgeConfig ? IMAGE_PATHS.edgeEtc : p)).join(",")}`;
  const withRead = flags.map((f) => (f.startsWith("--allow-read=") ? widen(f) : f));
  if (!withRead.some((f) => f.startsWith("--allow-env="))) throw new Error("edgePermissionFlags gave no --allow-env");
  return ["/usr/bin/deno", "run", ...withRead, join(IMAGE_PATHS.app, EDGE_MAIN)];
}

/** Every environment variable the edge image's entrypoint lets the edge read. */
export const edgeEnvNames = (): readonly string[] => [...EDGE_ENV, ...LIBRARY_ENV];

function writeContainerfile(dir: string, name: ImageName, extra: string): void {
  const template = readFileSync(join(IMAGES, name, "Containerfile"), "utf8");
  writeFileSync(join(dir, "Containerfile"), template + extra);
}

/** onnxruntime-node's native files for this platform (the package ships every platform's). */
const ORT_BIN = "node_modules/onnxruntime-node/bin/";
const ORT_KEEP = `napi-v6/${process.platform}/${process.arch}`;
const ortNatives = () => readdirSync(join(REPO, ORT_BIN, ORT_KEEP)).map((f) => join(REPO, ORT_BIN, ORT_KEEP, f));
/** copyPackages' skip: onnxruntime-node's binaries of other platforms. */
const otherPlatforms = (rel: string) => rel.startsWith(ORT_BIN) && !ORT_KEEP.startsWith(rel.slice(ORT_BIN.length)) && !rel.slice(ORT_BIN.length).startsWith(ORT_KEEP);

function stageEdge(dir: string): void {
  const root = join(dir, "rootfs");
  const deno = join(REPO, "node_modules/deno/deno");
  copyInto(root, deno, "/usr/bin/deno", 0o755);
  // The second stage (classifier.second_stage, on by default) runs the encoder with onnxruntime-node under FFI.
  copyLibraries(root, [deno, ...ortNatives()]);
  const { files, packages } = edgeModules(deno);
  for (const f of [...files, DEFAULT_ARTIFACT, "deno.json"]) copyInto(root, join(REPO, f), join("/app", f));
  const closure = packageClosure(REPO, packages, ORT_INSTALL_ONLY);
  copyPackages(root, closure, otherPlatforms);
  trimmedPackageJson(root, closure);
  // What the second stage reads from disk and deno info does not list (the probe, the encoder's weights,
  // the encoder worker's modules), unless a package copied above holds it already.
  for (const p of SECOND_STAGE_READ) if (!existsSync(join(root, "app", p))) cpSync(join(REPO, p), join(root, "app", p), { recursive: true, dereference: true });
  makeDirs(root, ["tmp", IMAGE_PATHS.edgeEtc, "app/.deno"]);
  makeDirs(join(dir, "writable"), ["events"]);
  writeContainerfile(dir, "edge", `ENTRYPOINT ${JSON.stringify(edgeEntrypoint())}\n`);
}

/** Packages the sidecar bundle leaves to node_modules (native code; files read from their own folders). */
const SIDECAR_EXTERNAL = ["onnxruntime-node", "grpc-health-check", "@grpc/grpc-js"];
/** onnxruntime-node's install-script-only dependencies (left out of both images). */
const ORT_INSTALL_ONLY = ["adm-zip", "global-agent"];

async function stageSidecar(dir: string, log: (m: string) => void): Promise<void> {
  const root = join(dir, "rootfs");
  copyInto(root, process.execPath, "/usr/bin/node", 0o755);
  copyLibraries(root, [process.execPath, ...ortNatives()]);
  await build({
    // The workers are entries of their own, which their starters look for beside the bundle: the replicas'
    // (sidecar --replicas N; sidecar/replicas/index.ts) and the tokenizer thread's (sidecar/engine/tokenizer-thread.ts).
    entryPoints: {
      sidecar: join(REPO, "sidecar/main.ts"),
      "replica-worker": join(REPO, "sidecar/replicas/worker.ts"),
      "tokenizer-worker": join(REPO, "sidecar/engine/tokenizer-worker.ts"),
    },
    outdir: join(root, "app/dist"),
    outExtension: { ".js": ".mjs" },
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    external: SIDECAR_EXTERNAL,
    // CommonJS dependencies inside an ES module bundle call require().
    banner: { js: 'import { createRequire as __sgRequire } from "node:module"; const require = __sgRequire(import.meta.url);' },
    logLevel: "warning",
    legalComments: "none",
  });
  const closure = packageClosure(REPO, SIDECAR_EXTERNAL, ORT_INSTALL_ONLY);
  copyPackages(root, closure, otherPlatforms);
  trimmedPackageJson(root, closure);
  copyInto(root, join(IMAGES, "sidecar/prestop.mjs"), IMAGE_PATHS.preStop);
  cpSync(join(REPO, "steering"), join(root, IMAGE_PATHS.profiles), { recursive: true, filter: (src) => !src.endsWith(".md") });
  // The image is CPU-only: the build the sidecar makes on CPU by default (fused attention, NAME-gqa).
  const model = await resolveModelDir({ from: join(REPO, "../shared/models/organism260K"), cacheDir: join(REPO, ".cache/models"), attention: "auto", device: "cpu", log });
  cpSync(model, join(root, IMAGE_PATHS.model), { recursive: true });
  makeDirs(root, ["tmp"]);
  writeContainerfile(dir, "sidecar", "");
}

/** SHA-256 over the paths, modes and contents under `dir`. */
function hashTree(dir: string): string {
  const hash = createHash("sha256");
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = statSync(p);
      hash.update(`${relative(dir, p)}\0${st.mode}\0`);
      if (st.isDirectory()) walk(p);
      else hash.update(readFileSync(p));
    }
  };
  walk(dir);
  return hash.digest("hex");
}

/** Stages the build context of `name` under `cacheDir` (replacing an earlier one). */
export async function stageImage(name: ImageName, cacheDir: string, log: (m: string) => void): Promise<StagedImage> {
  const dir = join(cacheDir, "stage", name);
  rmSync(dir, { recursive: true, force: true });
  if (name === "edge") stageEdge(dir);
  else await stageSidecar(dir, log);
  return { name, dir, contentHash: hashTree(dir) };
}

const HASH_LABEL = "io.steerguard.content-sha256";

/** Builds the staged image unless one with the same content hash exists; returns its size in bytes. */
export function buildImage(podman: Podman, staged: StagedImage, log: (m: string) => void): { ref: string; bytes: number; built: boolean } {
  const ref = imageRef(staged.name);
  const current = podman.tryRun(["image", "inspect", "--format", `{{index .Labels "${HASH_LABEL}"}}`, ref]);
  const built = current?.trim() !== staged.contentHash;
  if (built) {
    log(`building ${ref}`);
    podman.run(["build", "--pull=never", "--layers=false", "--label", `${HASH_LABEL}=${staged.contentHash}`, "-t", ref, staged.dir], { inherit: true });
  } else log(`${ref} is up to date`);
  const bytes = Number(podman.run(["image", "inspect", "--format", "{{.Size}}", ref]).trim());
  return { ref, bytes, built };
}

/** True when this checkout can stage `name` (the sidecar needs ../shared's organism260K). */
export function canStage(name: ImageName): string | null {
  if (name === "sidecar" && !existsSync(join(REPO, "../shared/models/organism260K"))) return "../shared/models/organism260K is missing";
  return null;
}
