/**
 * The messages between the sidecar's main thread and its engine replicas
 * (worker threads, ./worker.ts), in one place. Everything here crosses a
 * postMessage, so it is plain data: errors travel as code, message and
 * trailing metadata and are rebuilt as SidecarError on the main thread.
 */
import type { GenerateChunk, GenerateRequest, InfoResponse, ProbeRequest, ProbeResponse, SidecarLoad } from "../../proto/gen/steerguard/v1/sidecar.ts";
import type { StepTrace } from "../engine/prefill.ts";
import type { PoolMemory } from "../server/metrics.ts";

/** What a replica loads: the model folder and the engine options that are plain data. */
export interface ReplicaInit {
  modelDir: string;
  /** This replica's index (names it in logs and traces). */
  index: number;
  options: {
    device?: "cpu" | "cuda";
    intraOpThreads?: number;
    intraOpSpinning?: boolean;
    maxBatch?: number;
    maxQueue?: number;
    prefillChunk?: number;
    stepTokens?: number;
    cacheReserveMb?: number;
    defaultMaxTokens?: number;
    profiles?: string[];
    profileDirs?: string[];
    systemRole?: "merge" | "error";
  };
  /** Post every scheduler step's trace (benchmarks, tests). */
  traceSteps?: boolean;
}

/** The engine options a replica takes (the plain-data ones), picked from a larger object. */
export function replicaOptions(o: ReplicaInit["options"]): ReplicaInit["options"] {
  const keys = ["device", "intraOpThreads", "intraOpSpinning", "maxBatch", "maxQueue", "prefillChunk", "stepTokens", "cacheReserveMb", "defaultMaxTokens", "profiles", "profileDirs", "systemRole"] as const;
  return Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
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
  | { type: "crash" };

export type FromReplica =
  | { type: "ready"; info: InfoResponse; device: string; stats: ReplicaStats }
  | { type: "failed"; error: string }
  | { type: "chunk"; id: number; chunk: GenerateChunk }
  | { type: "end"; id: number; stats: ReplicaStats }
  | { type: "error"; id: number; error: WireError; stats: ReplicaStats }
  | { type: "probed"; id: number; response: ProbeResponse }
  | { type: "stats"; stats: ReplicaStats }
  | { type: "step"; trace: StepTrace }
  | { type: "closed" };
