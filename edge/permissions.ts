/**
 * What the edge may do under Deno, in one place: every launcher (npm run
 * edge through scripts/edge.ts, npm start, bench:edge, the tests) builds the
 * `deno run` command line with `edgeDenoArgs`, and edge/main.ts reads exactly
 * the environment variables listed here.
 *
 * - net: all hosts. It listens on HOST:PORT and connects to the sidecars and
 *   the upstream; grpc-js resolves a sidecar's name itself and connects to the
 *   resulting addresses, which a host list fixed at launch cannot name.
 * - read: the config file, the classifier artifact (its `classifier.artifact`,
 *   else edge/classifier/risk-model.v2.json) and the folders of the sidecar
 *   TLS files (`sidecar.tls.ca/cert/key`, or STEERGUARD_SIDECAR_TLS_*; re-read
 *   while it runs; the folder because a mounted Secret renews its files by
 *   swapping a symlinked ..data folder beside them); with
 *   `classifier.second_stage` (on unless the config sets it false), its probe,
 *   the encoder's weights, and the module graph of the worker the encoder runs
 *   in (edge/risk/second-stage.ts SECOND_STAGE_READ: a worker reads its
 *   modules with read permission). The edge's own modules need none.
 * - ffi: with `classifier.second_stage` only, onnxruntime-node's folder (its
 *   Node-API addon runs the encoder; SECOND_STAGE_FFI), nothing else.
 * - write: the directory of `events.path` when it names a file (the sink
 *   creates that directory, and Deno asks write access to it even when it
 *   exists); nothing otherwise.
 * - env: EDGE_ENV (the edge's own) and LIBRARY_ENV (what grpc-js and
 *   @bufbuild/protobuf read at load or on connect; Deno throws on a read of
 *   any other name, set or not).
 * - nothing else: no subprocesses, no other FFI, no system info; --no-prompt turns
 *   a missing permission into an error instead of a prompt.
 *
 * Paths come from the config file, so they are computed at launch from the
 * environment and the edge's own `--config` flag.
 */
import { readFileSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { SECOND_STAGE_FFI, SECOND_STAGE_READ } from "./risk/second-stage.ts";

/** Environment variables the edge itself reads (edge/main.ts). */
export const EDGE_ENV = [
  "PORT",
  "HOST",
  "STEERGUARD_CONFIG",
  "STEERGUARD_API_KEYS",
  "STEERGUARD_SIDECARS",
  "STEERGUARD_STEERING_PROFILE",
  "STEERGUARD_SIDECAR_TLS_CA",
  "STEERGUARD_SIDECAR_TLS_CERT",
  "STEERGUARD_SIDECAR_TLS_KEY",
  "STEERGUARD_SIDECAR_TLS_SERVER_NAME",
] as const;

/** The TLS file variables and the sidecar.tls fields they replace (edge/config SIDECAR_TLS_ENV). */
const TLS_FILE_ENV = { ca: "STEERGUARD_SIDECAR_TLS_CA", cert: "STEERGUARD_SIDECAR_TLS_CERT", key: "STEERGUARD_SIDECAR_TLS_KEY" } as const;

/** Environment variables its libraries read (grep of node_modules/@grpc/grpc-js and @bufbuild/protobuf). */
export const LIBRARY_ENV = [
  "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH",
  "GRPC_EXPERIMENTAL_ENABLE_OUTLIER_DETECTION",
  "GRPC_NODE_DEBUG_SEND_ERROR_DETAILS",
  "GRPC_NODE_TRACE",
  "GRPC_NODE_USE_ALTERNATIVE_RESOLVER",
  "GRPC_NODE_VERBOSITY",
  "GRPC_SSL_CIPHER_SUITES",
  "GRPC_TRACE",
  "GRPC_VERBOSITY",
  "grpc_proxy",
  "http_proxy",
  "https_proxy",
  "no_grpc_proxy",
  "no_proxy",
  "BUF_BIGINT_DISABLE",
  // onnxruntime-node (the second stage's encoder, edge/encoder/onnx.ts sets it before its first session)
  "ORT_DISABLE_TELEMETRY",
] as const;

/** The edge's entry point, relative to the repository root (the launchers' working directory). */
export const EDGE_MAIN = "edge/main.ts";
/** The shipped classifier artifact, relative to the repository root. */
export const DEFAULT_ARTIFACT = "edge/classifier/risk-model.v2.json";

export interface PermissionInput {
  /** The config file (STEERGUARD_CONFIG or --config); "" or undefined: none. */
  configPath?: string;
  /** Its text, when it could be read; the paths in it decide read and write grants. */
  configText?: string;
  /** Directory the edge runs in; relative paths are resolved against it. */
  cwd: string;
  /** The edge's environment (STEERGUARD_SIDECAR_TLS_* name files to read). */
  env?: Record<string, string | undefined>;
}

/** Paths named by a config text, read leniently: an invalid config is the edge's to report (exit 2). */
function configPaths(text: string | undefined): { artifact?: string; events?: string; secondStage: boolean; tls: Record<string, string | undefined> } {
  // No config, or one the edge will reject: the defaults (the second stage on, as edge/config's default).
  const defaults = { secondStage: true, tls: {} };
  if (!text) return defaults;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return defaults;
  }
  const obj = (v: unknown) => (v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
  const str = (v: unknown) => (typeof v === "string" && v !== "" ? v : undefined);
  const root = obj(json);
  const tls = obj(obj(root.sidecar).tls);
  return { artifact: str(obj(root.classifier).artifact), secondStage: obj(root.classifier).second_stage !== false, events: str(obj(root.events).path), tls: { ca: str(tls.ca), cert: str(tls.cert), key: str(tls.key) } };
}

/** The sidecar TLS files the edge will read: the environment's over the config's. */
function tlsFiles(configTls: Record<string, string | undefined>, env: Record<string, string | undefined>): string[] {
  return Object.entries(TLS_FILE_ENV).flatMap(([field, name]) => env[name]?.trim() || configTls[field] || []);
}

/** The permission flags of `deno run` for the edge. */
export function edgePermissionFlags(input: PermissionInput): string[] {
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(input.cwd, p));
  const paths = configPaths(input.configText);
  const read = [paths.artifact ? abs(paths.artifact) : join(input.cwd, DEFAULT_ARTIFACT)];
  if (input.configPath) read.unshift(abs(input.configPath));
  if (paths.secondStage) read.push(...SECOND_STAGE_READ.map((p) => join(input.cwd, p)));
  // Folders, not files: a mounted Secret renews its files by swapping a symlinked ..data folder beside them.
  read.push(...new Set(tlsFiles(paths.tls, input.env ?? {}).map((p) => dirname(abs(p)))));
  const flags = ["--no-prompt", "--allow-net", `--allow-read=${read.join(",")}`, `--allow-env=${[...EDGE_ENV, ...LIBRARY_ENV].join(",")}`];
  if (paths.events && paths.events !== "-") flags.push(`--allow-write=${dirname(abs(paths.events))}`);
  if (paths.secondStage) flags.push(`--allow-ffi=${SECOND_STAGE_FFI.map((p) => join(input.cwd, p)).join(",")}`);
  return flags;
}

/** The config file an edge command line names (`--config FILE` or `--config=FILE`), else the environment's. */
export function configPathOf(args: readonly string[], env: Record<string, string | undefined>): string | undefined {
  let path = env.STEERGUARD_CONFIG;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--config" && i + 1 < args.length) path = args[++i];
    else if (args[i]!.startsWith("--config=")) path = args[i]!.slice("--config=".length);
  }
  return path || undefined;
}

/**
 * The arguments of `deno` that run the edge with `edgeArgs`, its permissions
 * computed from `env` (the edge's environment) and the config file it names.
 */
export function edgeDenoArgs(
  edgeArgs: readonly string[] = [],
  opts: { env?: Record<string, string | undefined>; cwd: string; readText?: (path: string) => string },
): string[] {
  const configPath = configPathOf(edgeArgs, opts.env ?? {});
  let configText: string | undefined;
  if (configPath) {
    const path = isAbsolute(configPath) ? configPath : resolve(opts.cwd, configPath);
    try {
      configText = (opts.readText ?? ((p) => readFileSync(p, "utf8")))(path);
    } catch {
      // Missing or unreadable: the edge reports it and exits 2.
    }
  }
  return ["run", ...edgePermissionFlags({ configPath, configText, cwd: opts.cwd, env: opts.env }), EDGE_MAIN, ...edgeArgs];
}
