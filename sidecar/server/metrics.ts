/**
 * The sidecar's Prometheus metrics (prom-client), read from the backend's
 * load when scraped: queue depth against its admission limit, batch rows,
 * the mean service time and the retry-after it gives, and the requests
 * refused for a full queue; and the engine's buffer pool (memory kept for
 * reuse, reserved at start, allocated afresh). `serveMetrics` answers GET /metrics over HTTP
 * (sidecar flag --metrics-port).
 */
import { createServer, type Server } from "node:http";
import client from "prom-client";
import type { SidecarBackend } from "./backend.ts";

export interface MetricsSource {
  load?: SidecarBackend["load"];
  /** Requests refused for a full queue since the start. */
  readonly refusedTotal?: number;
  /** The engine's buffer pool (sidecar/engine/buffer-pool.ts). */
  readonly memory?: PoolMemory;
  /** Engine replicas (--replicas, sidecar/replicas): how many serve now, and restarts after a crash since the start. */
  readonly replicaCounts?: { live: number; restarts: number };
}

export interface PoolMemory {
  /** Bytes kept for reuse now. */
  keptBytes: number;
  /** Bytes written at start (--cache-reserve-mb). */
  reservedBytes: number;
  /** Bytes allocated because nothing kept fitted, since the start (reserve included). */
  allocatedBytes: number;
}

export function sidecarMetrics(source: MetricsSource): client.Registry {
  const registry = new client.Registry();
  const registers = [registry];
  const gauge = (name: string, help: string, read: (l: NonNullable<ReturnType<NonNullable<MetricsSource["load"]>>>) => number) =>
    new client.Gauge({
      name,
      help,
      registers,
      collect() {
        const l = source.load?.();
        if (l) this.set(read(l));
      },
    });
  gauge("steerguard_sidecar_queue_depth", "Requests waiting for a batch row.", (l) => l.queueDepth);
  gauge("steerguard_sidecar_queue_limit", "Admission limit: most requests that may wait (--max-queue); more get RESOURCE_EXHAUSTED.", (l) => l.queueLimit);
  gauge("steerguard_sidecar_batch_rows", "Rows decoding now.", (l) => l.batchRows);
  gauge("steerguard_sidecar_max_batch", "Most rows decoded together (--max-batch).", (l) => l.maxBatch);
  gauge("steerguard_sidecar_service_seconds", "Recent mean time a request holds a batch row.", (l) => l.meanServiceMs / 1000);
  gauge("steerguard_sidecar_retry_after_seconds", "The retry-after a refused request gets now.", (l) => l.retryAfterMs / 1000);
  gauge("steerguard_sidecar_saturated", "1 while a new request would be refused (queue at its limit).", (l) => (l.saturated ? 1 : 0));
  const memory = (name: string, help: string, read: (m: PoolMemory) => number) =>
    new client.Gauge({
      name,
      help,
      registers,
      collect() {
        const m = source.memory;
        if (m) this.set(read(m));
      },
    });
  memory("steerguard_sidecar_buffer_pool_bytes", "Cache and logits memory kept for reuse now (not in use).", (m) => m.keptBytes);
  memory("steerguard_sidecar_cache_reserved_bytes", "KV-cache memory written at start (--cache-reserve-mb).", (m) => m.reservedBytes);
  /** A counter of a total the source keeps (it only grows): each scrape adds what came since the last. */
  const total = (name: string, help: string, read: () => number) => {
    let last = 0;
    new client.Counter({
      name,
      help,
      registers,
      collect() {
        const now = read();
        if (now > last) this.inc(now - last);
        last = now;
      },
    });
  };
  total(
    "steerguard_sidecar_buffer_allocated_bytes_total",
    "Cache and logits memory allocated afresh because no kept buffer fitted; steady growth under steady load means first-touch page faults on the request path.",
    () => source.memory?.allocatedBytes ?? 0,
  );
  new client.Gauge({
    name: "steerguard_sidecar_replicas",
    help: "Engine replicas serving now (--replicas; one less while a crashed one restarts).",
    registers,
    collect() {
      const r = source.replicaCounts;
      if (r) this.set(r.live);
    },
  });
  total("steerguard_sidecar_replica_restarts_total", "Engine replicas started again after their thread died.", () => source.replicaCounts?.restarts ?? 0);
  total("steerguard_sidecar_queue_full_total", "Requests refused with RESOURCE_EXHAUSTED because the queue was full.", () => source.refusedTotal ?? 0);
  return registry;
}

/** Serves GET /metrics on host:port (0 picks a free port); resolves with the server and the port bound. */
export async function serveMetrics(registry: client.Registry, host: string, port: number): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    if (req.method !== "GET" || (req.url ?? "").split("?")[0] !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { "content-type": registry.contentType }).end(text),
      (err: Error) => res.writeHead(500, { "content-type": "text/plain" }).end(`${err.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  return { server, port: typeof address === "object" && address ? address.port : port };
}
