/**
 * The sidecar's gRPC server: the steerguard.v1.Sidecar service plus the
 * standard grpc.health.v1.Health service, with graceful shutdown.
 *
 * This file is transport only. Model work happens behind `SidecarBackend`.
 */
import * as grpc from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import {
  SidecarService,
  type GenerateChunk,
  type GenerateRequest,
  type InfoRequest,
  type InfoResponse,
  type ProbeRequest,
  type ProbeResponse,
  type SidecarServer,
} from "../../proto/gen/steerguard/v1/sidecar.ts";
import { QUEUE_DEPTH, QUEUE_LIMIT } from "../../proto/metadata.ts";
import { SidecarError, type SidecarBackend } from "./backend.ts";

/** The name Health reports the Sidecar service under ("" is the whole server). */
export const SIDECAR_SERVICE_NAME = "steerguard.v1.Sidecar";

export interface SidecarServerOptions {
  backend: SidecarBackend;
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 picks a free port. */
  port: number;
}

export interface RunningSidecar {
  /** The port actually bound. */
  port: number;
  address: string;
  /**
   * Stops accepting calls, lets in-flight calls finish for up to `graceMs`,
   * then cancels whatever is left. Resolves once the server is down.
   */
  shutdown(graceMs?: number): Promise<void>;
}

export async function startSidecarServer(opts: SidecarServerOptions): Promise<RunningSidecar> {
  const { backend } = opts;
  const host = opts.host ?? "127.0.0.1";
  const server = new grpc.Server({
    // Generation streams can be long; keep idle connections healthy.
    "grpc.keepalive_permit_without_calls": 1,
  });

  const health = new HealthImplementation({ "": "NOT_SERVING", [SIDECAR_SERVICE_NAME]: "NOT_SERVING" });
  health.addToServer(server);
  const calls = new ActiveCalls();
  server.addService(SidecarService, sidecarHandlers(backend, calls));

  const port = await new Promise<number>((resolve, reject) => {
    const target = host.includes(":") ? `[${host}]:${opts.port}` : `${host}:${opts.port}`;
    server.bindAsync(target, grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound)));
  });
  health.setStatus("", "SERVING");
  health.setStatus(SIDECAR_SERVICE_NAME, "SERVING");

  // Shutdown drains first: new calls are refused (UNAVAILABLE) while running
  // streams finish, and only then is the server closed. Closing it sooner
  // sends HTTP/2 GOAWAY with streams still open, which some clients (grpc-js
  // under Deno's HTTP/2, i.e. the edge) answer by dropping those streams.
  let down: Promise<void> | undefined;
  const shutdown = (graceMs = 10_000): Promise<void> => {
    down ??= (async () => {
      health.setStatus("", "NOT_SERVING");
      health.setStatus(SIDECAR_SERVICE_NAME, "NOT_SERVING");
      const deadline = Date.now() + graceMs;
      await calls.drained(graceMs);
      // Let the last streams' final frames reach their clients before GOAWAY.
      await new Promise((r) => setTimeout(r, Math.max(0, Math.min(CLOSE_LINGER_MS, deadline - Date.now()))));
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => (server.forceShutdown(), resolve()), Math.max(0, deadline - Date.now()));
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
    })().then(() => backend.close?.());
    return down;
  };

  return { port, address: `${host.includes(":") ? `[${host}]` : host}:${port}`, shutdown };
}

/** Counts the calls running on the server; refuses new ones once draining. */
class ActiveCalls {
  private count = 0;
  private draining = false;
  private onIdle: (() => void) | null = null;

  /** Registers a call; false when the server is draining (refuse it). */
  enter(): boolean {
    if (this.draining) return false;
    this.count++;
    return true;
  }

  leave(): void {
    if (--this.count === 0) this.onIdle?.();
  }

  /** Stops admitting calls; resolves when none is running, or after `ms`. */
  drained(ms: number): Promise<void> {
    this.draining = true;
    if (this.count === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.onIdle = () => (clearTimeout(timer), resolve());
    });
  }
}

/** How long a drained server waits before closing its connections (see shutdown). */
const CLOSE_LINGER_MS = 500;

const SHUTTING_DOWN: Partial<grpc.ServiceError> = { code: grpc.status.UNAVAILABLE, details: "the sidecar is shutting down" };

/** Metadata from a plain record (string values only). */
function toMetadata(record: Readonly<Record<string, string>>): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(record)) md.set(k, v);
  return md;
}

/** The queue's depth and limit as trailing metadata (empty when the backend has no queue). */
function loadTrailers(backend: SidecarBackend): Record<string, string> {
  const load = backend.load?.();
  return load ? { [QUEUE_DEPTH]: String(load.queueDepth), [QUEUE_LIMIT]: String(load.queueLimit) } : {};
}

/** Maps an error from the backend onto a gRPC status (with its metadata, and the queue's). */
function toServiceError(err: unknown, backend?: SidecarBackend): Partial<grpc.ServiceError> {
  if (err instanceof SidecarError) return { code: err.code, details: err.message, metadata: toMetadata({ ...(backend ? loadTrailers(backend) : {}), ...err.metadata }) };
  const message = err instanceof Error ? err.message : String(err);
  return { code: grpc.status.INTERNAL, details: message };
}

/** An AbortSignal that fires when the call is cancelled or its deadline passes. */
function callSignal(call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>): AbortSignal {
  const ctl = new AbortController();
  call.on("cancelled", () => ctl.abort(new SidecarError(grpc.status.CANCELLED, "cancelled by the caller")));
  return ctl.signal;
}

function sidecarHandlers(backend: SidecarBackend, calls: ActiveCalls): SidecarServer {
  return {
    info(_call: grpc.ServerUnaryCall<InfoRequest, InfoResponse>, callback: grpc.sendUnaryData<InfoResponse>) {
      try {
        callback(null, backend.info());
      } catch (err) {
        callback(toServiceError(err));
      }
    },

    probe(call: grpc.ServerUnaryCall<ProbeRequest, ProbeResponse>, callback: grpc.sendUnaryData<ProbeResponse>) {
      if (!calls.enter()) return callback(SHUTTING_DOWN);
      backend.probe(call.request, callSignal(call)).then(
        (res) => callback(null, res),
        (err) => callback(toServiceError(err)),
      ).finally(() => calls.leave());
    },

    generate(call: grpc.ServerWritableStream<GenerateRequest, GenerateChunk>) {
      if (!calls.enter()) return void call.emit("error", SHUTTING_DOWN);
      const signal = callSignal(call);
      void (async () => {
        try {
          for await (const chunk of backend.generate(call.request, signal)) {
            if (signal.aborted) return;
            // Respect backpressure: wait for the transport to drain.
            if (!call.write(chunk)) await new Promise((r) => call.once("drain", r));
          }
          if (!signal.aborted) call.end(toMetadata(loadTrailers(backend)));
        } catch (err) {
          if (!signal.aborted) call.emit("error", toServiceError(err, backend));
        } finally {
          calls.leave();
        }
      })();
    },
  };
}
