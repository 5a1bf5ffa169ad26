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
  server.addService(SidecarService, sidecarHandlers(backend));

  const port = await new Promise<number>((resolve, reject) => {
    const target = host.includes(":") ? `[${host}]:${opts.port}` : `${host}:${opts.port}`;
    server.bindAsync(target, grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound)));
  });
  health.setStatus("", "SERVING");
  health.setStatus(SIDECAR_SERVICE_NAME, "SERVING");

  let down: Promise<void> | undefined;
  const shutdown = (graceMs = 10_000): Promise<void> => {
    down ??= new Promise<void>((resolve) => {
      health.setStatus("", "NOT_SERVING");
      health.setStatus(SIDECAR_SERVICE_NAME, "NOT_SERVING");
      const force = setTimeout(() => server.forceShutdown(), graceMs);
      server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    }).then(() => backend.close?.());
    return down;
  };

  return { port, address: `${host.includes(":") ? `[${host}]` : host}:${port}`, shutdown };
}

/** Maps an error from the backend onto a gRPC status. */
function toServiceError(err: unknown): Partial<grpc.ServiceError> {
  if (err instanceof SidecarError) return { code: err.code, details: err.message };
  const message = err instanceof Error ? err.message : String(err);
  return { code: grpc.status.INTERNAL, details: message };
}

/** An AbortSignal that fires when the call is cancelled or its deadline passes. */
function callSignal(call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>): AbortSignal {
  const ctl = new AbortController();
  call.on("cancelled", () => ctl.abort(new SidecarError(grpc.status.CANCELLED, "cancelled by the caller")));
  return ctl.signal;
}

function sidecarHandlers(backend: SidecarBackend): SidecarServer {
  return {
    info(_call: grpc.ServerUnaryCall<InfoRequest, InfoResponse>, callback: grpc.sendUnaryData<InfoResponse>) {
      try {
        callback(null, backend.info());
      } catch (err) {
        callback(toServiceError(err));
      }
    },

    probe(call: grpc.ServerUnaryCall<ProbeRequest, ProbeResponse>, callback: grpc.sendUnaryData<ProbeResponse>) {
      backend.probe(call.request, callSignal(call)).then(
        (res) => callback(null, res),
        (err) => callback(toServiceError(err)),
      );
    },

    generate(call: grpc.ServerWritableStream<GenerateRequest, GenerateChunk>) {
      const signal = callSignal(call);
      void (async () => {
        try {
          for await (const chunk of backend.generate(call.request, signal)) {
            if (signal.aborted) return;
            // Respect backpressure: wait for the transport to drain.
            if (!call.write(chunk)) await new Promise((r) => call.once("drain", r));
          }
          if (!signal.aborted) call.end();
        } catch (err) {
          if (!signal.aborted) call.emit("error", toServiceError(err));
        }
      })();
    },
  };
}
