/**
 * Typed gRPC clients for a sidecar, from the generated code: the Sidecar
 * service and the standard Health service on one channel; plaintext, or
 * mutual TLS with certificate files re-read when they change.
 */
import * as grpc from "@grpc/grpc-js";
import { HealthClient } from "./gen/health/v1/health.ts";
import { SidecarClient, type GenerateChunk, type GenerateRequest } from "./gen/steerguard/v1/sidecar.ts";
import { TlsWatcher, type TlsFiles } from "./tls.ts";

type CertificateProvider = grpc.experimental.CertificateProvider;
type CaListener = Parameters<CertificateProvider["addCaCertificateListener"]>[0];
type IdentityListener = Parameters<CertificateProvider["addIdentityCertificateListener"]>[0];

/**
 * The client's TLS files as a grpc-js certificate provider: every new
 * connection uses the last good material the watcher loaded (proto/tls.ts),
 * so a renewed certificate is used from the next connection on, without a
 * restart. Until the first load succeeds connections fail at once, and
 * `error` says why (e.g. "client certificate FILE expired on ...").
 */
export class ClientTlsProvider implements CertificateProvider {
  readonly watcher: TlsWatcher;
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();
  /** True once a load has succeeded or failed (listeners get an answer). */
  private settled = false;

  constructor(files: Required<Pick<TlsFiles, "ca">> & TlsFiles, log?: (line: string) => void) {
    this.watcher = new TlsWatcher(files, "client", {
      onLoad: (m) => {
        log?.(`sidecar TLS: loaded client certificate ${m.summary}`);
        this.publish();
      },
      onError: (message) => {
        log?.(`sidecar TLS: ${message}${this.watcher.current ? "; new connections keep using the last good certificate" : ""}`);
        if (!this.watcher.current) this.publish();
      },
    });
  }

  /** Loads the files and starts re-reading them; resolves once the first load is done. */
  async start(): Promise<void> {
    await this.watcher.start();
  }

  /** Why the files on disk cannot be used now, or null. */
  get error(): string | null {
    return this.watcher.error;
  }

  stop(): void {
    this.watcher.stop();
  }

  private caUpdate() {
    const m = this.watcher.current;
    return m?.ca ? { caCertificate: m.ca } : null;
  }

  private identityUpdate() {
    const m = this.watcher.current;
    return m ? { certificate: m.cert, privateKey: m.key } : null;
  }

  private publish(): void {
    this.settled = true;
    for (const l of this.caListeners) l(this.caUpdate());
    for (const l of this.identityListeners) l(this.identityUpdate());
  }

  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    if (this.settled) queueMicrotask(() => listener(this.caUpdate()));
  }
  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
  }
  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    if (this.settled) queueMicrotask(() => listener(this.identityUpdate()));
  }
  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
  }
}

/** How a client reaches a sidecar: plaintext (undefined) or mutual TLS. */
export interface ClientTls {
  provider: ClientTlsProvider;
  /** The name to expect in the sidecar's certificate (default: the target's host). */
  serverName?: string;
}

/** Channel credentials and options for `tls` (plaintext when undefined). */
function transport(tls: ClientTls | undefined): { credentials: grpc.ChannelCredentials; options: Partial<grpc.ClientOptions> } {
  if (!tls) return { credentials: grpc.credentials.createInsecure(), options: {} };
  return {
    credentials: grpc.experimental.createCertificateProviderChannelCredentials(tls.provider, tls.provider),
    options: tls.serverName ? { "grpc.ssl_target_name_override": tls.serverName } : {},
  };
}

export interface SidecarClients {
  sidecar: SidecarClient;
  health: HealthClient;
  close(): void;
}

/** Opens clients to `address` ("host:port", or any gRPC target), plaintext or over `tls`. */
export function connectSidecar(address: string, channelOptions: Partial<grpc.ClientOptions> = {}, tls?: ClientTls): SidecarClients {
  const t = transport(tls);
  const credentials = t.credentials;
  const options = { ...channelOptions, ...t.options };
  const sidecar = new SidecarClient(address, credentials, options);
  // Share the sidecar client's channel so both speak over one connection.
  const health = new HealthClient(address, credentials, { ...options, channelOverride: sidecar.getChannel() });
  return {
    sidecar,
    health,
    close() {
      sidecar.close();
    },
  };
}

/** A deadline `ms` from now, for call options. */
export function deadlineIn(ms: number): Date {
  return new Date(Date.now() + ms);
}

type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: grpc.Metadata,
  options: Partial<grpc.CallOptions>,
  callback: (err: grpc.ServiceError | null, response: Res) => void,
) => grpc.ClientUnaryCall;

/**
 * Calls a unary method as a promise with a deadline, e.g.
 * `await unary(clients.sidecar.info.bind(clients.sidecar), {}, 5_000)`.
 */
export function unary<Req, Res>(method: UnaryMethod<Req, Res>, request: Req, deadlineMs: number): Promise<Res> {
  return new Promise((resolve, reject) =>
    method(request, new grpc.Metadata(), { deadline: deadlineIn(deadlineMs) }, (err, res) => (err ? reject(err) : resolve(res))),
  );
}

/**
 * Runs a Generate stream to its end and collects every chunk; a stream that
 * ends in an error resolves with the chunks so far and the error.
 */
export function collectGenerate(
  client: SidecarClient,
  request: GenerateRequest,
  deadlineMs: number,
): Promise<{ chunks: GenerateChunk[]; error?: grpc.ServiceError }> {
  return new Promise((resolve) => {
    const chunks: GenerateChunk[] = [];
    const stream = client.generate(request, { deadline: deadlineIn(deadlineMs) });
    stream.on("data", (c: GenerateChunk) => chunks.push(c));
    stream.on("error", (error: grpc.ServiceError) => resolve({ chunks, error }));
    stream.on("end", () => resolve({ chunks }));
  });
}
