/**
 * Typed gRPC clients for a sidecar, from the generated code: the Sidecar
 * service and the standard Health service on one channel.
 */
import * as grpc from "@grpc/grpc-js";
import { HealthClient } from "./gen/health/v1/health.ts";
import { SidecarClient, type GenerateChunk, type GenerateRequest } from "./gen/steerguard/v1/sidecar.ts";

export interface SidecarClients {
  sidecar: SidecarClient;
  health: HealthClient;
  close(): void;
}

/** Opens plaintext clients to `address` ("host:port"). */
export function connectSidecar(address: string, options: Partial<grpc.ClientOptions> = {}): SidecarClients {
  const credentials = grpc.credentials.createInsecure();
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
