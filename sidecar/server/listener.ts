/**
 * How accepted connections reach the gRPC server: through its connection
 * injector (grpc-js's public Server.createConnectionInjector), so that the
 * sidecar holds every socket itself. Both transports use it: plaintext
 * (listenPlain, here) and TLS (tls.ts, after its handshake).
 *
 * Why hold them: shutdown ends each drained connection by closing its TCP
 * socket (dropConnections) rather than with an HTTP/2 GOAWAY. The edge's
 * HTTP/2 client is Deno's node:http2 (nghttp2 underneath), and a GOAWAY can
 * abort the whole Deno process inside nghttp2 (denoland/deno#36788: the
 * assertion `stream->closed_next == NULL` in find_stream_on_goaway_func);
 * `npm run chaos` saw it at the sidecar's SIGTERM in 9 of 43 runs, and in
 * none of 61 since (README, Reliability). A closed socket is what the edge
 * sees when a sidecar is killed, which it has never failed on. By then
 * nothing is lost: the server drained first (running streams finished, new
 * calls refused with UNAVAILABLE).
 */
import type * as grpc from "@grpc/grpc-js";
import * as net from "node:net";
import type { Duplex } from "node:stream";

export interface Listener {
  /** The port actually bound. */
  port: number;
  /** Stops accepting connections (open ones are left to the gRPC server or dropConnections). */
  close(): void;
  /** Closes every connection it handed to the gRPC server (TCP close, no GOAWAY). */
  dropConnections(): void;
}

/** Hands sockets to a gRPC server and remembers the open ones. */
export class InjectedSockets {
  private readonly open = new Set<Duplex>();
  private readonly injector: grpc.ConnectionInjector;

  constructor(server: grpc.Server, credentials: grpc.ServerCredentials) {
    this.injector = server.createConnectionInjector(credentials);
  }

  inject(socket: Duplex): void {
    this.open.add(socket);
    socket.once("close", () => this.open.delete(socket));
    this.injector.injectConnection(socket);
  }

  dropAll(): void {
    for (const s of this.open) s.destroy();
    this.open.clear();
  }
}

/** Listens on `host:port` (0: a free port) and serves `server` in plaintext. */
export async function listenPlain(server: grpc.Server, credentials: grpc.ServerCredentials, host: string, port: number): Promise<Listener> {
  const sockets = new InjectedSockets(server, credentials);
  const srv = net.createServer((socket) => sockets.inject(socket));
  const bound = await new Promise<number>((resolve, reject) => {
    srv.once("error", reject);
    srv.listen(port, host, () => {
      srv.off("error", reject);
      resolve((srv.address() as net.AddressInfo).port);
    });
  });
  return { port: bound, close: () => void srv.close(), dropConnections: () => sockets.dropAll() };
}
