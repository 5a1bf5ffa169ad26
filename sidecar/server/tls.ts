/**
 * The sidecar's TLS listener: a node:tls server in front of the gRPC server.
 *
 * The handshake is done here, not inside grpc-js, for two reasons: a refused
 * connection is visible (grpc-js drops failed handshakes without a word), and
 * a renewed certificate is swapped in only once it loads and matches its key
 * (a half-written renewal keeps the old one instead of refusing everyone).
 * Each connection that passes is handed to the gRPC server through its
 * connection injector (listener.ts) as an already-decrypted stream; one that fails is closed before a byte of
 * HTTP/2 reaches gRPC, and logged with the peer's address and the reason.
 *
 * With a client CA (--tls-client-ca) the client must present a certificate
 * that CA signed (mutual TLS). Verification is Node's (OpenSSL): the
 * certificate chain, its dates, and the clientAuth purpose. The check is made
 * after the handshake (rejectUnauthorized off, `authorized` read on
 * secureConnection) so that the log can say why; the socket is destroyed
 * without being injected, so nothing unauthenticated is served.
 *
 * The files are re-read every TLS_RELOAD_MS (proto/tls.ts); a change that
 * checks out applies to new connections (setSecureContext), while open
 * connections and their streams go on with the context they were made with.
 */
import * as grpc from "@grpc/grpc-js";
import * as tls from "node:tls";
import { TlsWatcher, type TlsMaterial } from "../../proto/tls.ts";
import { InjectedSockets, type Listener } from "./listener.ts";

export interface ServerTlsOptions {
  /** The sidecar's certificate chain (PEM). */
  cert: string;
  /** Its private key (PEM). */
  key: string;
  /** CA bundle that signs the clients' certificates; given: clients must present one (mutual TLS). */
  clientCa?: string;
  /** How often the files are re-read (default proto/tls.ts TLS_RELOAD_MS). */
  reloadMs?: number;
}

/** A slow or silent client's handshake is given up after this long. */
const HANDSHAKE_TIMEOUT_MS = 10_000;

function contextOptions(m: TlsMaterial): tls.SecureContextOptions {
  return { cert: m.cert, key: m.key, ...(m.ca ? { ca: m.ca } : {}), minVersion: "TLSv1.2" };
}

/** OpenSSL's reason text from an error message ("...:SSL routines:func:wrong version number:file:line:"). */
function opensslReason(message: string): string {
  return message.match(/routines:[^:]*:([^:]+)/)?.[1] ?? message.split("\n")[0]!;
}

/** Why a handshake failed, in words (no key material: codes and OpenSSL's reason only). */
export function handshakeFailure(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case "ERR_SSL_WRONG_VERSION_NUMBER":
    case "ERR_SSL_HTTP_REQUEST":
      return `not a TLS handshake (a plaintext client?) (${err.code})`;
    case "ERR_TLS_HANDSHAKE_TIMEOUT":
      return `no handshake within ${HANDSHAKE_TIMEOUT_MS} ms`;
    case "ECONNRESET":
      return "the client closed the connection during the handshake (it may not trust the sidecar's certificate)";
    default:
      return `TLS handshake failed: ${opensslReason(err.message)}${err.code ? ` (${err.code})` : ""}`;
  }
}

const UNTRUSTED = new Set(["UNABLE_TO_VERIFY_LEAF_SIGNATURE", "UNABLE_TO_GET_ISSUER_CERT", "UNABLE_TO_GET_ISSUER_CERT_LOCALLY", "SELF_SIGNED_CERT_IN_CHAIN", "DEPTH_ZERO_SELF_SIGNED_CERT", "CERT_SIGNATURE_FAILURE"]);

/** Why a verified handshake's client certificate is not accepted, or null when it is. */
export function clientCertFailure(socket: tls.TLSSocket): string | null {
  if (socket.authorized) return null;
  const peer = socket.getPeerCertificate();
  if (!peer || Object.keys(peer).length === 0) return "no client certificate";
  const code = String(socket.authorizationError ?? "unknown");
  const who = `client certificate CN=${peer.subject?.CN ?? "?"} (issuer CN=${peer.issuer?.CN ?? "?"}, serial ${peer.serialNumber})`;
  if (code === "CERT_HAS_EXPIRED") return `${who} expired on ${new Date(peer.valid_to).toISOString()} (${code})`;
  if (code === "CERT_NOT_YET_VALID") return `${who} is not valid before ${new Date(peer.valid_from).toISOString()} (${code})`;
  if (UNTRUSTED.has(code)) return `${who} is not signed by the trusted client CA (${code})`;
  return `${who} not accepted (${code})`;
}

type Peer = { remoteAddress?: string; remotePort?: number };
const peerOf = (s: Peer) => (s.remoteAddress ? `${s.remoteAddress.includes(":") ? `[${s.remoteAddress}]` : s.remoteAddress}:${s.remotePort}` : "an unknown peer");

/**
 * The peer of a TLS socket whose handshake failed. Once Node has destroyed it
 * the socket no longer knows its address; the TCP socket under it (Node's
 * `_parent`, asked for its address on connect, which Node caches) still does.
 */
const failedPeerOf = (s: tls.TLSSocket) => peerOf(s.remoteAddress ? s : ((s as unknown as { _parent?: Peer })._parent ?? s));

/**
 * Loads the files (a problem stops the start with the reason), listens on
 * `host:port` and serves `server` over TLS. `log` gets one line per refused
 * connection, per accepted mutual-TLS connection, and per certificate
 * (re)load or problem. The listener's close() also stops re-reading the files.
 */
export async function listenTls(server: grpc.Server, host: string, port: number, opts: ServerTlsOptions, log: (line: string) => void): Promise<Listener> {
  const mutual = opts.clientCa !== undefined;
  let tlsServer: tls.Server | null = null;
  const watcher = new TlsWatcher(
    { cert: opts.cert, key: opts.key, ca: opts.clientCa },
    "server",
    {
      onLoad(m) {
        if (tlsServer) tlsServer.setSecureContext(contextOptions(m));
        log(`sidecar: TLS ${tlsServer ? "reloaded" : "loaded"} ${m.summary}${mutual ? `; clients must present a certificate signed by ${opts.clientCa}` : ""}`);
      },
      onError(message) {
        if (tlsServer) log(`sidecar: TLS: ${message}; still serving the last good certificate`);
      },
    },
    opts.reloadMs,
  );
  const first = await watcher.start();
  if (!first) {
    watcher.stop();
    throw new Error(`TLS: ${watcher.error}`);
  }

  const sockets = new InjectedSockets(server, grpc.ServerCredentials.createInsecure());
  const srv = tls.createServer({
    ...contextOptions(first),
    requestCert: mutual,
    // Checked on secureConnection instead, to log why (see the file comment).
    rejectUnauthorized: false,
    ALPNProtocols: ["h2"],
    handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
  });
  tlsServer = srv;
  srv.on("secureConnection", (socket: tls.TLSSocket) => {
    const peer = peerOf(socket);
    const refused = mutual ? clientCertFailure(socket) : null;
    if (refused) {
      log(`sidecar: refused TLS connection from ${peer}: ${refused}`);
      socket.destroy();
      return;
    }
    if (mutual) log(`sidecar: TLS connection from ${peer}, client CN=${socket.getPeerCertificate().subject?.CN ?? "?"}`);
    sockets.inject(socket);
  });
  // Ask each TCP socket its address now: Node caches it for failedPeerOf.
  srv.on("connection", (raw: Peer) => void raw.remoteAddress);
  srv.on("tlsClientError", (err: NodeJS.ErrnoException, socket: tls.TLSSocket) => {
    log(`sidecar: refused TLS connection from ${failedPeerOf(socket)}: ${handshakeFailure(err)}`);
  });
  const bound = await new Promise<number>((resolve, reject) => {
    srv.once("error", reject);
    srv.listen(port, host, () => {
      srv.off("error", reject);
      resolve((srv.address() as { port: number }).port);
    });
  });
  return {
    port: bound,
    close() {
      watcher.stop();
      srv.close();
    },
    dropConnections: () => sockets.dropAll(),
  };
}
