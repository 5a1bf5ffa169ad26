/**
 * The sidecar's gRPC server: the steerguard.v1.Sidecar service plus the
 * standard grpc.health.v1.Health service, with graceful shutdown.
 *
 * Transport: plaintext, or TLS / mutual TLS (tls.ts) when `tls` is given.
 * `healthPort` adds a second, plaintext server with Health alone (no
 * Generate, Probe or Info), reporting the same status, for probes that
 * cannot speak TLS (Kubernetes' grpc probes).
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
import { listenPlain, type Listener } from "./listener.ts";
import { listenTls, type ServerTlsOptions } from "./tls.ts";

/** The name Health reports the Sidecar service under ("" is the whole server). */
export const SIDECAR_SERVICE_NAME = "steerguard.v1.Sidecar";

export interface SidecarServerOptions {
  backend: SidecarBackend;
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 picks a free port. */
  port: number;
  /** Serve TLS (mutual TLS with `tls.clientCa`); absent: plaintext. */
  tls?: ServerTlsOptions;
  /** Also serve grpc.health.v1 alone, in plaintext, on this port of `host` (0 picks one). */
  healthPort?: number;
  /** Transport events (TLS refusals, certificate reloads); default stderr. */
  log?: (line: string) => void;
}

export interface RunningSidecar {
  /** The port actually bound. */
  port: number;
  address: string;
  /** The plaintext health-only port, when asked for. */
  healthPort?: number;
  /** "plaintext", "TLS" or "mutual TLS". */
  transport: string;
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

  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const listener: Listener = opts.tls
    ? await listenTls(server, host, opts.port, opts.tls, log)
    : await listenPlain(server, grpc.ServerCredentials.createInsecure(), host, opts.port);
  const port = listener.port;
  let healthServer: grpc.Server | null = null;
  let healthPort: number | undefined;
  if (opts.healthPort !== undefined) {
    healthServer = new grpc.Server();
    health.addToServer(healthServer);
    try {
      healthPort = await bindInsecure(healthServer, host, opts.healthPort);
    } catch (err) {
      listener.close();
      listener.dropConnections();
      server.forceShutdown();
      throw new Error(`--health-port ${opts.healthPort}: ${(err as Error).message}`);
    }
  }
  // NOT_SERVING while the backend cannot generate (e.g. its one engine replica is being started again), so
  // that a readiness probe takes the pod out of rotation meanwhile; and from the start of shutdown on.
  let backendServing = true;
  let closing = false;
  const setHealth = () => {
    const s = backendServing && !closing ? "SERVING" : "NOT_SERVING";
    health.setStatus("", s);
    health.setStatus(SIDECAR_SERVICE_NAME, s);
  };
  backend.onServing?.((serving) => {
    backendServing = serving;
    setHealth();
  });
  setHealth();

  // Shutdown drains first: new calls are refused (UNAVAILABLE) while running
  // streams finish, and only then are the connections closed. Closing them
  // sooner ends streams still open. They are closed as TCP connections, not
  // with an HTTP/2 GOAWAY, which can abort the edge's Deno process (listener.ts).
  let down: Promise<void> | undefined;
  const shutdown = (graceMs = 10_000): Promise<void> => {
    down ??= (async () => {
      closing = true;
      setHealth();
      const deadline = Date.now() + graceMs;
      await calls.drained(graceMs);
      // Let the last streams' final frames reach their clients before the connections close.
      await new Promise((r) => setTimeout(r, Math.max(0, Math.min(CLOSE_LINGER_MS, deadline - Date.now()))));
      listener.close();
      listener.dropConnections();
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => (server.forceShutdown(), resolve()), Math.max(0, deadline - Date.now()));
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
      healthServer?.forceShutdown();
    })().then(() => backend.close?.());
    return down;
  };

  const transport = !opts.tls ? "plaintext" : opts.tls.clientCa ? "mutual TLS" : "TLS";
  return { port, address: hostPort(host, port), healthPort, transport, shutdown };
}

/** "host:port", bracketing an IPv6 host. */
function hostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Binds `server` in plaintext; resolves with the port. */
function bindInsecure(server: grpc.Server, host: string, port: number): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.bindAsync(hostPort(host, port), grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound)));
  });
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
