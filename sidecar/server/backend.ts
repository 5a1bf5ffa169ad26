/**
 * What the gRPC layer needs from whatever runs the model. The server in
 * ./index.ts only translates between gRPC and this interface; the engine
 * (sidecar/engine) implements it.
 */
import { status } from "@grpc/grpc-js";
import type {
  GenerateChunk,
  GenerateRequest,
  InfoResponse,
  ProbeRequest,
  ProbeResponse,
  SidecarLoad,
} from "../../proto/gen/steerguard/v1/sidecar.ts";

export interface SidecarBackend {
  /** Describes the loaded model (the Info RPC). */
  info(): InfoResponse;
  /**
   * Streams a completion. The iterator must stop (and free what it holds) soon
   * after `signal` aborts: the caller cancelled or its deadline passed.
   */
  generate(request: GenerateRequest, signal: AbortSignal): AsyncIterable<GenerateChunk>;
  /** Reads a profile's SAE features on a prompt (the Probe RPC). */
  probe(request: ProbeRequest, signal: AbortSignal): Promise<ProbeResponse>;
  /**
   * The request queue now (depth, admission limit, retry-after); the server
   * puts depth and limit into every Generate call's trailers. Absent: no queue.
   */
  load?(): SidecarLoad;
  /**
   * Tells `listener` when the backend stops being able to generate (every
   * engine replica has stopped) and when it can again; the server reports it
   * through grpc.health.v1. Absent: it can while it is open.
   */
  onServing?(listener: (serving: boolean) => void): void;
  /** Releases the model; called once after the server has stopped. */
  close?(): Promise<void>;
}

/**
 * An error that carries the gRPC status code it should be answered with, and
 * trailing metadata to send with it (e.g. retry-after-ms on RESOURCE_EXHAUSTED).
 */
export class SidecarError extends Error {
  constructor(
    readonly code: status,
    message: string,
    readonly metadata: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = "SidecarError";
  }
}
