/**
 * The messages between the sidecar's main thread and its engine replicas
 * (worker threads, ./worker.ts), in one place. Everything here crosses a
 * postMessage, so it is plain data: errors travel as code, message and
 * trailing metadata and are rebuilt as SidecarError on the main thread.
 */
import type { GenerateChunk, GenerateRequest, InfoResponse, ProbeRequest, ProbeResponse, SidecarLoad } from "../../proto/gen/steerguard/v1/sidecar.ts";
import type { EngineOptions } from "../engine/engine.ts";
import type { StepTrace } from "../engine/prefill.ts";
import type { PoolMemory } from "../server/metrics.ts";

/** The engine options a replica takes: those that are plain data (no callbacks, no pool). */
const REPLICA_OPTION_KEYS = ["device", "intraOpThreads", "intraOpSpinning", "maxBatch", "maxQueue", "prefillChunk", "stepTokens", "prefillYield", "idleChunk", "segmentLayers", "cacheReserveMb", "defaultMaxTokens", "profiles", "profileDirs", "systemRole", "tokenizerThreadChars"] as const;
export type ReplicaEngineOptions = Pick<EngineOptions, (typeof REPLICA_OPTION_KEYS)[number]>;

/** What a replica loads: the model folder and its engine options. */
export interface ReplicaInit {
  modelDir: string;
  /** This replica's index (names it in logs and traces). */
  index: number;
  options: ReplicaEngineOptions;
  /** Post every scheduler step's trace (benchmarks, tests). */
  traceSteps?: boolean;
}

/** The replica's options picked from a larger object (what crosses postMessage must be plain data). */
export function replicaOptions(o: ReplicaEngineOptions): ReplicaEngineOptions {
  return Object.fromEntries(REPLICA_OPTION_KEYS.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
}

/** A replica's counters, sent after every step and with every answer. */
export interface ReplicaStats {
  load: SidecarLoad;
  memory: PoolMemory;
  refusedTotal: number;
}

export interface WireError {
  /** gRPC status code */
  code: number;
  message: string;
  metadata: Record<string, string>;
}

export type ToReplica =
  | { type: "generate"; id: number; request: GenerateRequest }
  | { type: "abort"; id: number }
  | { type: "probe"; id: number; request: ProbeRequest }
  | { type: "close" }
  /** Tests: the worker throws an uncaught error between model runs, as a bug in it would. */
  | { type: "crash" }
  /** Tests: the worker's thread blocks for `ms`, posting nothing, as a model run that does not end would. */
  | { type: "stall"; ms: number };

export type FromReplica =
  | { type: "ready"; info: InfoResponse; device: string; segments: number; graphLayout: string; stats: ReplicaStats }
  | { type: "failed"; error: string }
  | { type: "chunk"; id: number; chunk: GenerateChunk }
  | { type: "end"; id: number; stats: ReplicaStats }
  | { type: "error"; id: number; error: WireError; stats: ReplicaStats }
  | { type: "probed"; id: number; response: ProbeResponse }
  | { type: "stats"; stats: ReplicaStats }
  | { type: "step"; trace: StepTrace };
