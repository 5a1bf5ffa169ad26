/**
 * The edge's client of the sidecars: a pool over several gRPC addresses with
 * round-robin over the healthy ones, grpc.health.v1 checks in the background,
 * a deadline on every call, and cancellation when the caller goes away (the
 * sidecar sees CANCELLED and stops decoding within a step).
 *
 * `start()` resolves once the first chunk has arrived, so the HTTP response is
 * committed only when generation is really under way; failures before that
 * point are `SidecarFailure`s the failure policy can still act on.
 *
 * Backpressure: the pool keeps each sidecar's queue as it last reported it
 * (load.ts: every call's trailers, and Info on each health round), prefers
 * sidecars whose queue has room, tries the next one when a sidecar answers
 * RESOURCE_EXHAUSTED, and `saturation()` says when every healthy sidecar is
 * at its admission limit (/readyz answers 503 then).
 *
 * Profiles: each Info answer also says which steering profiles a sidecar
 * serves and whether each has a condition (profiles.ts); `withoutCondition()`
 * names the healthy sidecars that serve a profile without one, so that the
 * edge does not send them a conditional request they would refuse.
 *
 * Transport: plaintext, or mutual TLS to every address (`PoolOptions.tls`,
 * the config's sidecar.tls) with the certificate files re-read when they
 * change (proto/client.ts ClientTlsProvider); a problem with the edge's own
 * files is each address's `lastError` ("sidecar TLS: client certificate
 * FILE expired on ..."), which /readyz shows.
 */
import * as grpc from "@grpc/grpc-js";
import { isIP } from "node:net";
import { ClientTlsProvider, connectSidecar, deadlineIn, unary, type ClientTls, type SidecarClients } from "../../proto/client.ts";
import { HealthCheckResponse_ServingStatus } from "../../proto/gen/health/v1/health.ts";
import type { GenerateChunk, GenerateRequest, InfoResponse } from "../../proto/gen/steerguard/v1/sidecar.ts";
import { loadFromInfo, loadFromMetadata, retryAfterFromMetadata, type EndpointLoad } from "./load.ts";
import { profilesFromInfo, type ServedProfiles } from "./profiles.ts";
import { unrefTimer } from "../../proto/tls.ts";

export { unrefTimer };

export type { EndpointLoad } from "./load.ts";
export type { ProfileCondition, ServedProfiles } from "./profiles.ts";

export const SIDECAR_SERVICE = "steerguard.v1.Sidecar";

/** gRPC targets that may name several addresses: dns:///name:port, ipv4:a:p,b:p, ipv6:[a]:p,[b]:p. */
const MULTI_ADDRESS_TARGET = /^(dns|ipv4|ipv6):/;

export type FailureKind = "unavailable" | "timeout" | "overloaded" | "rejected" | "cancelled" | "internal";

/** Why a sidecar call failed. */
export class SidecarFailure extends Error {
  override name = "SidecarFailure";
  constructor(
    readonly kind: FailureKind,
    message: string,
    readonly address: string | null,
    readonly grpcCode: number | null = null,
    /** overloaded: when the sidecar said to retry, in ms (its retry-after-ms trailer). */
    readonly retryAfterMs: number | null = null,
  ) {
    super(message);
  }
}

export function failureFromGrpc(err: unknown, address: string | null): SidecarFailure {
  if (err instanceof SidecarFailure) return err;
  const e = err as Partial<grpc.ServiceError>;
  const code = typeof e.code === "number" ? e.code : null;
  const msg = e.details || e.message || String(err);
  switch (code) {
    case grpc.status.UNAVAILABLE:
      return new SidecarFailure("unavailable", msg, address, code);
    case grpc.status.DEADLINE_EXCEEDED:
      return new SidecarFailure("timeout", msg, address, code);
    case grpc.status.RESOURCE_EXHAUSTED:
      return new SidecarFailure("overloaded", msg, address, code, retryAfterFromMetadata(e.metadata));
    case grpc.status.INVALID_ARGUMENT:
    case grpc.status.FAILED_PRECONDITION:
    case grpc.status.OUT_OF_RANGE:
      return new SidecarFailure("rejected", msg, address, code);
    case grpc.status.CANCELLED:
      return new SidecarFailure("cancelled", msg, address, code);
    default:
      return new SidecarFailure(code === null ? "unavailable" : "internal", msg, address, code);
  }
}

/** A generation under way: the first chunk, then the rest. */
export interface GenerationStream {
  address: string;
  first: GenerateChunk;
  /** The chunks after `first`; throws a SidecarFailure if the call fails mid-way. */
  rest: AsyncIterable<GenerateChunk>;
  /** Cancels the call (idempotent). */
  cancel(): void;
}

export interface StartOptions {
  /** Aborts the call (client went away). */
  signal?: AbortSignal;
  /** Deadline of the whole call. */
  deadlineMs: number;
  /** Most time to wait for the first chunk. */
  firstChunkTimeoutMs: number;
}

/** What the edge needs from its sidecars (the pool, or a fake in tests). */
export interface SidecarBackend {
  start(request: GenerateRequest, opts: StartOptions): Promise<GenerationStream>;
  /** True when at least one sidecar is healthy. */
  ready(): boolean;
  /** Model ids reported by healthy sidecars. */
  modelIds(): string[];
  status(): SidecarStatus[];
  /**
   * Why the sidecars cannot take more work now (every healthy one reports its
   * queue at or over its admission limit), or null. Optional: a backend
   * without queue reports is never saturated.
   */
  saturation?(): string | null;
  /**
   * The healthy sidecars whose last Info lists `profile` without a condition
   * (empty: none known to lack one, including before any Info answer).
   * Optional: a backend without Info never reports one.
   */
  withoutCondition?(profile: string): string[];
  close(): void;
}

export interface SidecarStatus {
  address: string;
  healthy: boolean | null;
  modelId: string | null;
  lastError: string | null;
  /** The queue as the sidecar last reported it (absent: never reported). */
  queue?: { depth: number; limit: number; saturated: boolean } | null;
}

interface Endpoint {
  address: string;
  clients: SidecarClients;
  /** null until the first check answers. */
  healthy: boolean | null;
  modelId: string | null;
  lastError: string | null;
  checking: boolean;
  /** Consecutive health checks that timed out. */
  slowChecks: number;
  /** The queue as last reported (trailers, Info); null until then. */
  load: EndpointLoad | null;
  /** The steering profiles its last Info listed; null until one answers (and while it is down). */
  profiles: ServedProfiles | null;
}

export interface PoolOptions {
  healthIntervalMs: number;
  healthTimeoutMs: number;
  /** Called when an address changes health. */
  onHealth?: (address: string, healthy: boolean, reason: string | null) => void;
  /** Mutual TLS to the sidecars (PEM files; absent: plaintext). */
  tls?: { ca: string; cert: string; key: string; serverName?: string };
  /** Certificate loads and problems. */
  log?: (line: string) => void;
  /** Called with the profiles an address serves on every Info answer (each health round). */
  onProfiles?: (address: string, profiles: ServedProfiles) => void;
}

/** True when a target's host is an IP address (or it lists addresses: ipv4:, ipv6:). */
export function namesAnIpAddress(target: string): boolean {
  if (/^ipv[46]:/.test(target)) return true;
  const hostPort = target.replace(/^dns:(\/\/[^/]*)?\/?/, "");
  const host = hostPort.startsWith("[") ? hostPort.slice(1, hostPort.indexOf("]")) : hostPort.replace(/:\d+$/, "");
  return isIP(host) !== 0;
}

/** Connection failures that, under TLS, usually mean the sidecar refused the edge's certificate. */
const CLOSED_IN_HANDSHAKE = /EPIPE|ECONNRESET|socket hang up|Socket closed|certificate/i;

/** Pushes a grpc stream's events into an async iterator. */
function iterate(call: grpc.ClientReadableStream<GenerateChunk>, address: string) {
  const queue: GenerateChunk[] = [];
  let error: SidecarFailure | null = null;
  let done = false;
  let wake: (() => void) | null = null;
  const poke = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  call.on("data", (c: GenerateChunk) => {
    queue.push(c);
    poke();
  });
  call.on("error", (e) => {
    error = failureFromGrpc(e, address);
    poke();
  });
  call.on("end", () => {
    done = true;
    poke();
  });
  return {
    async next(): Promise<GenerateChunk | null> {
      for (;;) {
        if (queue.length > 0) return queue.shift()!;
        if (error) throw error;
        if (done) return null;
        await new Promise<void>((r) => (wake = r));
      }
    },
  };
}

export class SidecarPool implements SidecarBackend {
  private readonly endpoints: Endpoint[];
  private rr = 0;
  private timer: ReturnType<typeof setInterval> | null = null;
  private readonly tls: ClientTls | undefined;

  constructor(
    addresses: string[],
    private readonly opts: PoolOptions,
  ) {
    const t = opts.tls;
    if (t && !t.serverName) {
      const ip = addresses.find(namesAnIpAddress);
      if (ip) throw new Error(`sidecar TLS: ${ip} names the sidecar by IP address: set sidecar.tls.server_name (STEERGUARD_SIDECAR_TLS_SERVER_NAME) to a DNS name in the sidecar's certificate (TLS clients send a name, not an address)`);
    }
    this.tls = t && { provider: new ClientTlsProvider({ ca: t.ca, cert: t.cert, key: t.key }, opts.log), serverName: t.serverName };
    this.endpoints = addresses.map((address) => {
      const channelOptions: Partial<grpc.ClientOptions> = {
        "grpc.initial_reconnect_backoff_ms": 100,
        "grpc.max_reconnect_backoff_ms": 1_000,
        "grpc.keepalive_time_ms": 10_000,
        "grpc.keepalive_timeout_ms": 5_000,
      };
      // One target with several addresses (a DNS name with several records, or
      // an ipv4:/ipv6: address list): let grpc-js balance over them.
      if (MULTI_ADDRESS_TARGET.test(address)) channelOptions["grpc.service_config"] = JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] });
      return { address, clients: connectSidecar(address, channelOptions, this.tls), healthy: null, modelId: null, lastError: null, checking: false, slowChecks: 0, load: null, profiles: null };
    });
  }

  /** Starts the background health checks (one round right away, after the TLS files are first read). */
  async startHealthChecks(): Promise<void> {
    await this.tls?.provider.start();
    const round = () => Promise.all(this.endpoints.map((e) => this.check(e))).then(() => {});
    if (!this.timer) {
      this.timer = setInterval(() => void round(), this.opts.healthIntervalMs);
      unrefTimer(this.timer);
    }
    return round();
  }

  /** A failed call's reason, with what TLS knows about it (the edge's own files; a refused handshake). */
  private tlsReason(reason: string): string {
    if (!this.tls) return reason;
    const own = this.tls.provider.error;
    if (own) return `sidecar TLS: ${own}; ${reason}`;
    if (CLOSED_IN_HANDSHAKE.test(reason)) return `${reason} (sidecar TLS: the connection was closed during the handshake: the sidecar may not accept this edge's client certificate (sidecar.tls.cert), or the edge the sidecar's (sidecar.tls.ca, server_name); the sidecar's log says which)`;
    return reason;
  }

  private async check(e: Endpoint): Promise<void> {
    if (e.checking) return;
    // Without usable TLS material no connection can be made: say why.
    if (this.tls && !this.tls.provider.watcher.current) {
      this.setHealth(e, false, `sidecar TLS: ${this.tls.provider.error ?? "certificate files not loaded yet"}`);
      return;
    }
    e.checking = true;
    let healthy = false;
    let reason: string | null = null;
    try {
      const r = await unary(e.clients.health.check.bind(e.clients.health), { service: SIDECAR_SERVICE }, this.opts.healthTimeoutMs);
      healthy = r.status === HealthCheckResponse_ServingStatus.SERVING;
      if (!healthy) reason = `health status ${r.status}`;
      if (healthy) {
        // Info every round: the model id once, the queue (InfoResponse.load) and profiles each time.
        const info = unary(e.clients.sidecar.info.bind(e.clients.sidecar), {}, this.opts.healthTimeoutMs);
        if (e.modelId === null) {
          const i = await info;
          e.modelId = i.modelId || null;
          this.recordInfo(e, i);
        } else {
          // A model already known: a slow Info answer does not make the sidecar unhealthy.
          await info.then((i) => this.recordInfo(e, i), () => undefined);
        }
      }
      e.slowChecks = 0;
    } catch (err) {
      reason = this.tlsReason((err as grpc.ServiceError).details || (err as Error).message);
      // One slow answer on a busy host is not an outage: a sidecar that was
      // healthy is marked down after two timeouts in a row (a refused
      // connection marks it down at once).
      if ((err as grpc.ServiceError).code === grpc.status.DEADLINE_EXCEEDED && e.healthy === true && ++e.slowChecks < 2) {
        e.checking = false;
        return;
      }
    } finally {
      e.checking = false;
    }
    this.setHealth(e, healthy, reason);
  }

  private recordInfo(e: Endpoint, info: InfoResponse): void {
    e.load = loadFromInfo(info.load);
    e.profiles = profilesFromInfo(info);
    this.opts.onProfiles?.(e.address, e.profiles);
  }

  private setHealth(e: Endpoint, healthy: boolean, reason: string | null) {
    e.lastError = reason;
    if (e.healthy !== healthy) {
      e.healthy = healthy;
      // A sidecar that comes back may serve another model or other profiles: its next Info says.
      if (!healthy) {
        e.modelId = null;
        e.profiles = null;
      }
      this.opts.onHealth?.(e.address, healthy, reason);
    }
  }

  ready(): boolean {
    return this.endpoints.some((e) => e.healthy === true);
  }

  modelIds(): string[] {
    return [...new Set(this.endpoints.filter((e) => e.healthy && e.modelId).map((e) => e.modelId!))];
  }

  status(): SidecarStatus[] {
    return this.endpoints.map(({ address, healthy, modelId, lastError, load }) => ({
      address,
      healthy,
      modelId,
      lastError,
      queue: load && { depth: load.queueDepth, limit: load.queueLimit, saturated: load.saturated },
    }));
  }

  /** See SidecarBackend.withoutCondition. */
  withoutCondition(profile: string): string[] {
    return this.endpoints.filter((e) => e.healthy === true && e.profiles?.get(profile)?.hasCondition === false).map((e) => e.address);
  }

  /** See SidecarBackend.saturation: a reason when every healthy sidecar reports a full queue. */
  saturation(): string | null {
    const healthy = this.endpoints.filter((e) => e.healthy === true);
    if (healthy.length === 0 || !healthy.every((e) => e.load?.saturated)) return null;
    const each = healthy.map((e) => `${e.address} (${e.load!.queueDepth} waiting, admission limit ${e.load!.queueLimit})`);
    return `saturated: every healthy sidecar reports its queue at its admission limit: ${each.join(", ")}`;
  }

  /**
   * The next endpoint in round-robin order that is not known to be down,
   * preferring those whose queue last had room. When every one is down
   * ("panic mode"), the next untried one anyway: health may be stale, and an
   * unreachable sidecar fails fast (no waitForReady).
   */
  private pick(exclude: Set<Endpoint>): Endpoint | null {
    const n = this.endpoints.length;
    const up = (e: Endpoint) => e.healthy !== false;
    const room = (e: Endpoint) => up(e) && !e.load?.saturated;
    for (const ok of [room, up]) {
      for (let i = 0; i < n; i++) {
        const e = this.endpoints[(this.rr + i) % n];
        if (ok(e) && !exclude.has(e)) {
          this.rr = (this.rr + i + 1) % n;
          return e;
        }
      }
    }
    if (this.endpoints.some((e) => up(e) && !exclude.has(e))) return null;
    for (let i = 0; i < n; i++) {
      const e = this.endpoints[(this.rr + i) % n];
      if (!exclude.has(e)) {
        this.rr = (this.rr + i + 1) % n;
        return e;
      }
    }
    return null;
  }

  async start(request: GenerateRequest, opts: StartOptions): Promise<GenerationStream> {
    const tried = new Set<Endpoint>();
    const started = performance.now();
    let last: SidecarFailure | null = null;
    /** The first sidecar that answered RESOURCE_EXHAUSTED: the answer when no other one serves. */
    let overloaded: SidecarFailure | null = null;
    for (;;) {
      // After a full queue, only sidecars known to be up are worth a try.
      const e = this.pick(tried);
      if (!e || (overloaded && e.healthy === false)) throw overloaded ?? last ?? new SidecarFailure("unavailable", "no healthy sidecar", null, grpc.status.UNAVAILABLE);
      tried.add(e);
      const remaining = opts.deadlineMs - (performance.now() - started);
      try {
        return await this.startOn(e, request, { ...opts, deadlineMs: remaining });
      } catch (err) {
        const f = failureFromGrpc(err, e.address);
        if (opts.signal?.aborted || remaining <= 0) throw f;
        // A full queue: another sidecar may have room (a refusal costs no work).
        if (f.kind === "overloaded") {
          overloaded ??= f;
          continue;
        }
        // Not reachable: mark it down now (the health loop brings it back) and
        // try the next address; anything else is the answer.
        if (f.kind !== "unavailable") throw f;
        this.setHealth(e, false, this.tlsReason(f.message));
        last = f;
      }
    }
  }

  private startOn(e: Endpoint, request: GenerateRequest, opts: StartOptions): Promise<GenerationStream> {
    if (opts.signal?.aborted) return Promise.reject(new SidecarFailure("cancelled", "client went away", e.address));
    const call = e.clients.sidecar.generate(request, { deadline: deadlineIn(Math.max(1, opts.deadlineMs)) });
    let cancelled = false;
    const cancel = () => {
      if (cancelled) return;
      cancelled = true;
      call.cancel();
    };
    const onAbort = () => cancel();
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    // Every status carries the sidecar's queue in its trailers (proto/metadata.ts).
    call.on("status", (st: grpc.StatusObject) => {
      const load = loadFromMetadata(st.metadata, st.code === grpc.status.RESOURCE_EXHAUSTED);
      if (load) e.load = load;
    });
    const it = iterate(call, e.address);
    const cleanup = () => opts.signal?.removeEventListener("abort", onAbort);
    return new Promise<GenerationStream>((resolve, reject) => {
      const timer = setTimeout(() => {
        cancel();
        reject(new SidecarFailure("timeout", `no first chunk within ${opts.firstChunkTimeoutMs} ms`, e.address, grpc.status.DEADLINE_EXCEEDED));
      }, Math.min(opts.firstChunkTimeoutMs, Math.max(1, opts.deadlineMs)));
      it.next().then(
        (first) => {
          clearTimeout(timer);
          if (first === null) {
            cleanup();
            reject(new SidecarFailure("internal", "the sidecar ended the stream without a chunk", e.address));
            return;
          }
          const rest: AsyncIterable<GenerateChunk> = {
            [Symbol.asyncIterator]: () => ({
              async next() {
                try {
                  const c = await it.next();
                  if (c === null) {
                    cleanup();
                    return { done: true, value: undefined };
                  }
                  return { done: false, value: c };
                } catch (err) {
                  cleanup();
                  throw err;
                }
              },
              async return() {
                cancel();
                cleanup();
                return { done: true, value: undefined };
              },
            }),
          };
          resolve({ address: e.address, first, rest, cancel });
        },
        (err) => {
          clearTimeout(timer);
          cleanup();
          reject(opts.signal?.aborted ? new SidecarFailure("cancelled", "client went away", e.address) : err);
        },
      );
    });
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.tls?.provider.stop();
    for (const e of this.endpoints) e.clients.close();
  }
}
