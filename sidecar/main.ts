/**
 * The sidecar process: `npm run sidecar -- [flags]` (or `tsx sidecar/main.ts`).
 *
 * Serves steerguard.v1.Sidecar and grpc.health.v1.Health over gRPC, in
 * plaintext or, with --tls-cert/--tls-key, TLS (--tls-client-ca: mutual TLS;
 * README "Transport security"). SIGTERM or
 * SIGINT stops it gracefully: no new calls, in-flight streams get up to
 * --grace-ms to finish, then the process exits 0.
 */
import { parseArgs } from "node:util";
import { existsSync } from "node:fs";
import { chunkingOf, DEFAULT_CACHE_RESERVE_MB, Engine, type EngineOptions } from "./engine/engine.ts";
import { DEFAULT_TOKENIZER_THREAD_CHARS } from "./engine/tokenizer-thread.ts";
import { DEFAULT_IDLE_CHUNK, DEFAULT_PREFILL_CHUNK, DEFAULT_PREFILL_YIELD, DEFAULT_STEP_TOKENS, describeChunking } from "./engine/prefill.ts";
import { ATTENTION_CHOICES, DEFAULT_MODEL_SOURCE, resolveModelDir, type AttentionChoice } from "./model-source.ts";
import { isWeightPrecision, WEIGHT_PRECISIONS, type WeightPrecision } from "./model/quantize.ts";
import type { SidecarBackend } from "./server/backend.ts";
import { startSidecarServer } from "./server/index.ts";
import type { ServerTlsOptions } from "./server/tls.ts";
import { serveMetrics, sidecarMetrics, type MetricsSource } from "./server/metrics.ts";
import { NoModelBackend } from "./server/no-model.ts";
import { DEFAULT_HANG_MS, ReplicaSet } from "./replicas/index.ts";

/** Profiles shipped with the repo (scanned when it exists). */
const DEFAULT_PROFILE_DIR = new URL("../steering", import.meta.url).pathname;

const HELP = `steerguard sidecar: the gRPC generation server

Usage: npm run sidecar -- [options]

Options:
  --host HOST        address to bind (default 127.0.0.1, env SIDECAR_HOST)
  --port PORT        port to bind; 0 picks a free one (default 50051, env SIDECAR_PORT)
  --model DIR        a built model directory (env STEERGUARD_MODEL)
  --from SRC         a checkpoint to build and serve: llama2.c .bin (or its folder) or a
                     Hugging Face folder; built once into --cache-dir, rebuilt when it changes
                     (env STEERGUARD_MODEL_SOURCE; default ${DEFAULT_MODEL_SOURCE})
  --cache-dir DIR    where --from builds go (default .cache/models)
  --weights P        --from builds: fp32 (default), fp16 (for --device cuda), int8 or int4
                     (weight-only quantized, for CPU); see npm run build-model -- --help
  --attention A      --from builds: auto (default), plain or gqa. gqa: onnxruntime's fused
                     GroupQueryAttention with an in-place cache, faster decode and long
                     prompts on CPU (head size a multiple of 8; sidecar/model/README.md).
                     auto: gqa with --device cpu when the model's heads allow it, else plain
  --no-model         serve Health and Info only, no model (Generate answers FAILED_PRECONDITION)
  --profile FILE     serve this steering profile (JSON); repeatable; an invalid one stops the start
  --profile-dir DIR  also serve the *.json profiles found here (and one level down) that fit the model;
                     default ${DEFAULT_PROFILE_DIR} when it exists (env STEERGUARD_PROFILE_DIR)
  --device DEV       cpu (default) or cuda (falls back to CPU with a warning)
  --threads N        onnxruntime intra-op threads (default: onnxruntime's choice)
  --spin             idle intra-op threads spin-wait (onnxruntime's default; can help on a
                     dedicated host, hurts on a shared one)
  --replicas N       engines, each in its own worker thread with its own copy of the model
                     and its own batch (default 1: one engine in the main thread). With 2 or
                     more, requests are packed onto as few engines as take them, so a short
                     prompt finds one that is not prefilling a long one and runs beside it
                     (sidecar/replicas/route.ts); --threads, --max-batch, --max-queue and
                     --cache-reserve-mb apply to each, and --threads 0 shares the cores out
                     (README, Latency: what it costs in memory and batch throughput)
  --replica-hang-ms N  with --replicas: a replica that holds requests and sends nothing for N
                     ms (a model run that does not end) is taken out, its requests failing
                     with UNAVAILABLE; 0 never (default 60000; raise it where one step can
                     take that long, e.g. --prefill-chunk 0 with long prompts on a large model)
  --max-batch N      most requests decoded together (default 8)
  --max-queue N      most requests waiting for a batch row (the admission limit); more get
                     RESOURCE_EXHAUSTED with a retry-after-ms trailer (default 64)
  --prefill-chunk N  most prompt tokens of one request per step: long prompts are prefilled
                     in chunks between decode steps (default ${DEFAULT_PREFILL_CHUNK}; 0 = whole prompts)
  --step-tokens N    token budget of one step: running rows plus prompt chunks
                     (default ${DEFAULT_STEP_TOKENS}; 0 = no limit)
  --prefill-yield N  steps in a row a prompt gives way to a shorter prompt whose chunk did
                     not finish it, so a chat prompt of a few chunks is not slowed by a long
                     prompt's chunks (default ${DEFAULT_PREFILL_YIELD}; 0 = prompts share every step)
  --idle-chunk N     most prompt tokens per step when the prompt is the only work (no stream
                     running, no other prompt): chunks exist to share steps, and small ones
                     cost a lone long prompt a fifth of its rate here (default
                     ${DEFAULT_IDLE_CHUNK}; never less than --prefill-chunk, so that value turns it off;
                     0 = whole prompts)
  --segment-layers N  run the model as graphs of N blocks each, then the head: a short prompt
                     that arrives during a long prompt's chunk runs between two of them, and
                     a chunk's LM head runs on its last position only. auto (default): with
                     fused attention on CPU, about 12M parameters per segment for models of 20M
                     or more (random-100m: 2 blocks), else 0 = one graph (README, Latency)
  --cache-reserve-mb N  KV-cache memory written at start, so the first long prompts do not
                     stall running streams on page faults: whole batch rows at the full context,
                     as many as fit (fused attention: the batch caches and the prompt cache a long
                     row takes, each that fits, and one warm-up step at the largest batch)
                     (default ${DEFAULT_CACHE_RESERVE_MB}; 0 = none)
  --tls-cert FILE    serve TLS with this certificate chain (PEM; env SIDECAR_TLS_CERT); needs --tls-key.
                     Re-read when it changes (renewal without restart)
  --tls-key FILE     its private key (PEM; env SIDECAR_TLS_KEY)
  --tls-client-ca FILE  require a client certificate signed by this CA bundle (mutual TLS;
                     env SIDECAR_TLS_CLIENT_CA); refused connections are logged with the reason
  --health-port P    also serve grpc.health.v1 alone (no Generate, Probe or Info), in plaintext,
                     on this port of --host, with the main server's status: for probes that
                     cannot speak TLS (Kubernetes grpc probes); 0 picks a free port (env SIDECAR_HEALTH_PORT)
  --metrics-port P   serve Prometheus metrics (queue depth, admission limit, ...) at
                     http://HOST:P/metrics; 0 picks a free port (env SIDECAR_METRICS_PORT; default off)
  --tokenizer-thread-chars N  prompts of at least N characters are tokenized on a thread of
                     their own, so running streams do not wait for them; the thread holds a
                     second copy of the tokenizer (80-340 MB for Llama 2 to Gemma 2), started
                     by the first such prompt (default ${DEFAULT_TOKENIZER_THREAD_CHARS}; 0 = all on the
                     engine's thread; README, Latency)
  --system-role R    system messages for a chat template without a system role (Gemma): merge
                     (into the next user message; default) or error (INVALID_ARGUMENT)
  --grace-ms MS      how long in-flight streams may run on after SIGTERM (default 10000)
  -h, --help         show this help
`;

function parse() {
  const { values } = parseArgs({
    options: {
      host: { type: "string" },
      port: { type: "string" },
      model: { type: "string" },
      from: { type: "string" },
      "cache-dir": { type: "string" },
      weights: { type: "string", default: "fp32" },
      attention: { type: "string", default: "auto" },
      "no-model": { type: "boolean", default: false },
      device: { type: "string", default: "cpu" },
      profile: { type: "string", multiple: true },
      "profile-dir": { type: "string" },
      threads: { type: "string", default: "0" },
      spin: { type: "boolean", default: false },
      replicas: { type: "string", default: "1" },
      "replica-hang-ms": { type: "string", default: String(DEFAULT_HANG_MS) },
      "max-batch": { type: "string", default: "8" },
      "max-queue": { type: "string", default: "64" },
      "prefill-chunk": { type: "string", default: String(DEFAULT_PREFILL_CHUNK) },
      "step-tokens": { type: "string", default: String(DEFAULT_STEP_TOKENS) },
      "prefill-yield": { type: "string", default: String(DEFAULT_PREFILL_YIELD) },
      "idle-chunk": { type: "string", default: String(DEFAULT_IDLE_CHUNK) },
      "segment-layers": { type: "string", default: "auto" },
      "cache-reserve-mb": { type: "string", default: String(DEFAULT_CACHE_RESERVE_MB) },
      "metrics-port": { type: "string" },
      "tls-cert": { type: "string" },
      "tls-key": { type: "string" },
      "tls-client-ca": { type: "string" },
      "health-port": { type: "string" },
      "system-role": { type: "string", default: "merge" },
      "tokenizer-thread-chars": { type: "string", default: String(DEFAULT_TOKENIZER_THREAD_CHARS) },
      "grace-ms": { type: "string", default: "10000" },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
  });
  return values;
}

function intFlag(name: string, raw: string, min: number, max: number): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new Error(`--${name} must be an integer from ${min} to ${max}, got "${raw}"`);
  }
  return n;
}

/** --segment-layers: "auto" or a whole number of blocks per segment (0: one graph). */
function segmentLayersFlag(raw: string): number | "auto" {
  if (raw === "auto") return "auto";
  try {
    return intFlag("segment-layers", raw, 0, 100_000);
  } catch {
    throw new Error(`--segment-layers must be auto or an integer from 0 to 100000, got "${raw}"`);
  }
}

/** TLS files from the flags or the environment (empty values count as absent); undefined: plaintext. */
function tlsOptions(flags: { "tls-cert"?: string; "tls-key"?: string; "tls-client-ca"?: string }): ServerTlsOptions | undefined {
  const pick = (flag: string | undefined, env: string) => flag || process.env[env] || undefined;
  const cert = pick(flags["tls-cert"], "SIDECAR_TLS_CERT");
  const key = pick(flags["tls-key"], "SIDECAR_TLS_KEY");
  const clientCa = pick(flags["tls-client-ca"], "SIDECAR_TLS_CLIENT_CA");
  if (!cert !== !key) throw new Error("--tls-cert and --tls-key go together (env SIDECAR_TLS_CERT, SIDECAR_TLS_KEY)");
  if (!cert) {
    if (clientCa) throw new Error("--tls-client-ca needs --tls-cert and --tls-key");
    return undefined;
  }
  return { cert, key: key!, clientCa };
}

/** Loopback addresses: plaintext there is reachable from this host only. */
function isLoopback(host: string): boolean {
  return host === "localhost" || /^127\./.test(host) || host === "::1" || host === "[::1]";
}

/** The profile folder to scan: one given must exist; the default is used when present. */
function profileDirs(given: string | undefined): string[] {
  if (given === undefined) return existsSync(DEFAULT_PROFILE_DIR) ? [DEFAULT_PROFILE_DIR] : [];
  if (!existsSync(given)) throw new Error(`--profile-dir ${given} does not exist`);
  return [given];
}

async function main(): Promise<void> {
  let flags: ReturnType<typeof parse>;
  let port: number;
  let graceMs: number;
  let engineOpts: EngineOptions;
  let replicas: number;
  let replicaHangMs: number;
  let metricsPort: number | undefined;
  let healthPort: number | undefined;
  let tls: ServerTlsOptions | undefined;
  try {
    flags = parse();
    port = intFlag("port", flags.port ?? process.env.SIDECAR_PORT ?? "50051", 0, 65535);
    graceMs = intFlag("grace-ms", flags["grace-ms"], 0, 3_600_000);
    const metricsPortText = flags["metrics-port"] ?? process.env.SIDECAR_METRICS_PORT;
    if (metricsPortText !== undefined) metricsPort = intFlag("metrics-port", metricsPortText, 0, 65535);
    const healthPortText = flags["health-port"] ?? process.env.SIDECAR_HEALTH_PORT;
    if (healthPortText !== undefined && healthPortText !== "") healthPort = intFlag("health-port", healthPortText, 0, 65535);
    tls = tlsOptions(flags);
    if (flags.device !== "cpu" && flags.device !== "cuda") throw new Error(`--device must be cpu or cuda, got "${flags.device}"`);
    if (!(ATTENTION_CHOICES as readonly string[]).includes(flags.attention)) throw new Error(`--attention must be one of ${ATTENTION_CHOICES.join(", ")}, got "${flags.attention}"`);
    if (!isWeightPrecision(flags.weights)) throw new Error(`--weights must be one of ${WEIGHT_PRECISIONS.join(", ")}, got "${flags.weights}"`);
    const systemRole = flags["system-role"];
    if (systemRole !== "merge" && systemRole !== "error") throw new Error(`--system-role must be merge or error, got "${systemRole}"`);
    replicas = intFlag("replicas", flags.replicas, 1, 64);
    replicaHangMs = intFlag("replica-hang-ms", flags["replica-hang-ms"], 0, 86_400_000);
    engineOpts = {
      device: flags.device,
      intraOpThreads: intFlag("threads", flags.threads, 0, 1024),
      intraOpSpinning: flags.spin,
      maxBatch: intFlag("max-batch", flags["max-batch"], 1, 1024),
      maxQueue: intFlag("max-queue", flags["max-queue"], 0, 1_000_000),
      prefillChunk: intFlag("prefill-chunk", flags["prefill-chunk"], 0, 1_000_000),
      stepTokens: intFlag("step-tokens", flags["step-tokens"], 0, 1_000_000),
      prefillYield: intFlag("prefill-yield", flags["prefill-yield"], 0, 1_000_000),
      idleChunk: intFlag("idle-chunk", flags["idle-chunk"], 0, 1_000_000),
      segmentLayers: segmentLayersFlag(flags["segment-layers"]),
      cacheReserveMb: intFlag("cache-reserve-mb", flags["cache-reserve-mb"], 0, 1_048_576),
      profiles: flags.profile ?? [],
      profileDirs: profileDirs(flags["profile-dir"] ?? process.env.STEERGUARD_PROFILE_DIR),
      systemRole,
      tokenizerThreadChars: intFlag("tokenizer-thread-chars", flags["tokenizer-thread-chars"], 0, 1_000_000_000),
    };
  } catch (err) {
    process.stderr.write(`sidecar: ${(err as Error).message}\n\n${HELP}`);
    process.exit(2);
  }
  if (flags.help) {
    process.stdout.write(HELP);
    return;
  }

  let backend: SidecarBackend;
  if (flags["no-model"]) {
    backend = new NoModelBackend();
  } else {
    const log = (m: string) => process.stdout.write(`sidecar: ${m}\n`);
    const dir = await resolveModelDir({
      model: flags.model ?? process.env.STEERGUARD_MODEL,
      from: flags.from ?? process.env.STEERGUARD_MODEL_SOURCE,
      cacheDir: flags["cache-dir"],
      weights: flags.weights as WeightPrecision,
      attention: flags.attention as AttentionChoice,
      device: flags.device as "cpu" | "cuda",
      log,
    });
    const scheduler = describeChunking(chunkingOf(engineOpts));
    if (replicas > 1) {
      const set = await ReplicaSet.load(dir, { replicas, engine: engineOpts, hangMs: replicaHangMs, log: (line) => process.stderr.write(`${line}\n`) });
      const info = set.info();
      log(`serving ${info.modelId} from ${dir} on ${set.device}: ${replicas} engine replicas, ${set.threads} intra-op thread${set.threads > 1 ? "s" : ""} each, as ${set.graphLayout}`);
      log(`scheduler, each replica: ${scheduler}`);
      for (const p of info.profiles) {
        const cond = p.hasCondition ? `, condition >= ${p.conditionThreshold}` : "";
        log(`steering profile ${p.name}: layer ${p.layer}, ${p.numFeatures} features, positions ${p.positions}${cond}`);
      }
      backend = set;
    } else {
      const engine = await Engine.load(dir, engineOpts);
      log(`serving ${engine.manifest.id} from ${dir} on ${engine.device}, as ${engine.graphLayout}`);
      log(`scheduler: ${scheduler}`);
      for (const { profile: p } of engine.profiles.values()) {
        const cond = p.condition ? `, condition on ${p.condition.features.length} features >= ${p.condition.threshold}` : "";
        log(`steering profile ${p.name}: layer ${p.layer}, ${p.features.length} features, positions ${p.positions}${cond} (${p.file})`);
      }
      backend = engine;
    }
  }
  const host = flags.host ?? process.env.SIDECAR_HOST ?? "127.0.0.1";
  if (!tls && !isLoopback(host)) {
    process.stderr.write(`sidecar: WARNING: serving PLAINTEXT gRPC on ${host}, not loopback: anything that can reach this port can call Generate directly, bypassing the edge; use --tls-cert/--tls-key/--tls-client-ca (README "Transport security")\n`);
  }
  const server = await startSidecarServer({ backend, host, port, tls, healthPort, log: (line) => process.stderr.write(`${line}\n`) });
  // The launchers and tests match "sidecar listening on ADDRESS\n": the transport goes on a line of its own.
  process.stdout.write(`sidecar transport: ${server.transport}\nsidecar listening on ${server.address}\n`);
  if (server.healthPort !== undefined) process.stdout.write(`sidecar health (grpc.health.v1 only, plaintext) on ${host.includes(":") ? `[${host}]` : host}:${server.healthPort}\n`);
  if (metricsPort !== undefined) {
    const metrics = await serveMetrics(sidecarMetrics(backend as MetricsSource), host, metricsPort);
    metrics.server.unref();
    process.stdout.write(`sidecar metrics on http://${host.includes(":") ? `[${host}]` : host}:${metrics.port}/metrics\n`);
  }

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`sidecar: ${signal}, shutting down (grace ${graceMs} ms)\n`);
    server.shutdown(graceMs).then(
      () => process.exit(0),
      (err) => {
        process.stderr.write(`sidecar: shutdown failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

main().catch((err) => {
  process.stderr.write(`sidecar: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
