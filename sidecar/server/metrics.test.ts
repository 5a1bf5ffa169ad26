import { afterEach, describe, expect, it } from "vitest";
import { GenerateRequest, SidecarLoad } from "../../proto/gen/steerguard/v1/sidecar.ts";
import { join } from "node:path";
import { builtModel, SHARED_MODELS } from "../../test/support/models.ts";
import { tempDir } from "../../test/support/tmp.ts";
import { BufferPool } from "../engine/buffer-pool.ts";
import { DEFAULT_CACHE_RESERVE_MB, Engine } from "../engine/engine.ts";
import { reserveGqaCache } from "../engine/gqa-kv-cache.ts";
import { buildModel } from "../model/build.ts";
import { serveMetrics, sidecarMetrics, type MetricsSource } from "./metrics.ts";

const line = (text: string, name: string) => text.split("\n").find((l) => l.startsWith(`${name} `));

describe("sidecar metrics", () => {
  let close: (() => void) | undefined;
  afterEach(() => close?.());

  it("exports the queue, its admission limit and the refusals as they are when scraped, over HTTP", async () => {
    const source: { -readonly [K in keyof MetricsSource]: MetricsSource[K] } & { queue: SidecarLoad } = {
      queue: SidecarLoad.fromPartial({ queueDepth: 5, queueLimit: 8, batchRows: 2, maxBatch: 2, meanServiceMs: 1500, retryAfterMs: 4000, saturated: false }),
      load() {
        return this.queue;
      },
      refusedTotal: 0,
      replicaCounts: { live: 2, restarts: 0 },
    };
    const registry = sidecarMetrics(source);
    let text = await registry.metrics();
    expect(line(text, "steerguard_sidecar_queue_depth")).toBe("steerguard_sidecar_queue_depth 5");
    expect(line(text, "steerguard_sidecar_queue_limit")).toBe("steerguard_sidecar_queue_limit 8");
    expect(line(text, "steerguard_sidecar_service_seconds")).toBe("steerguard_sidecar_service_seconds 1.5");
    expect(line(text, "steerguard_sidecar_retry_after_seconds")).toBe("steerguard_sidecar_retry_after_seconds 4");
    expect(line(text, "steerguard_sidecar_saturated")).toBe("steerguard_sidecar_saturated 0");
    expect(line(text, "steerguard_sidecar_queue_full_total")).toBe("steerguard_sidecar_queue_full_total 0");
    expect(line(text, "steerguard_sidecar_replicas")).toBe("steerguard_sidecar_replicas 2");
    source.replicaCounts = { live: 1, restarts: 1 };

    source.queue = SidecarLoad.fromPartial({ ...source.queue, queueDepth: 8, saturated: true });
    source.refusedTotal = 3;
    const served = await serveMetrics(registry, "127.0.0.1", 0);
    close = () => served.server.close();
    const res = await fetch(`http://127.0.0.1:${served.port}/metrics`);
    expect(res.status).toBe(200);
    text = await res.text();
    expect(line(text, "steerguard_sidecar_queue_depth")).toBe("steerguard_sidecar_queue_depth 8");
    expect(line(text, "steerguard_sidecar_saturated")).toBe("steerguard_sidecar_saturated 1");
    expect(line(text, "steerguard_sidecar_queue_full_total")).toBe("steerguard_sidecar_queue_full_total 3");
    expect(line(text, "steerguard_sidecar_replicas")).toBe("steerguard_sidecar_replicas 1");
    expect(line(text, "steerguard_sidecar_replica_restarts_total")).toBe("steerguard_sidecar_replica_restarts_total 1");
    expect((await fetch(`http://127.0.0.1:${served.port}/other`)).status).toBe(404);
  });

  it("exports a real engine's buffer pool: the cache reserved at start, memory kept and allocated", async () => {
    const engine = await Engine.load(await builtModel("stories260K"), { maxBatch: 4 });
    try {
      const { nLayers, nKvHeads, headDim, contextLength } = engine.manifest.dims;
      const row = nKvHeads * contextLength * headDim * 4;
      // The batch cache at 4 rows and one full-context prompt's row buffers: keys and values, two of each, every layer.
      const reserved = 4 * nLayers * (4 * row + row);
      const registry = sidecarMetrics(engine);
      let text = await registry.metrics();
      expect(line(text, "steerguard_sidecar_cache_reserved_bytes")).toBe(`steerguard_sidecar_cache_reserved_bytes ${reserved}`);
      expect(line(text, "steerguard_sidecar_buffer_pool_bytes")).toBe(`steerguard_sidecar_buffer_pool_bytes ${reserved}`);
      const req = GenerateRequest.fromPartial({ requestId: "m", input: { $case: "prompt", value: "Once upon a time" }, sampling: { temperature: 0, maxTokens: 4 } });
      for await (const _ of engine.generate(req, new AbortController().signal));
      text = await registry.metrics();
      const allocated = Number(line(text, "steerguard_sidecar_buffer_allocated_bytes_total")!.split(" ")[1]);
      expect(allocated).toBeGreaterThan(reserved);
      expect(Number(line(text, "steerguard_sidecar_buffer_pool_bytes")!.split(" ")[1])).toBeGreaterThan(0);
    } finally {
      await engine.close();
    }
  });

  it("reserves a fused-attention engine's cache at start as well (gqa-kv-cache.ts reserveGqaCache)", async () => {
    const model = tempDir("sg-metrics-gqa-");
    await buildModel({ from: join(SHARED_MODELS, "stories260K"), out: model, id: "stories260K", attention: "gqa" });
    const engine = await Engine.load(model, { maxBatch: 4 });
    try {
      expect(engine.manifest.graph.attention).toBe("gqa");
      const reserved = reserveGqaCache(new BufferPool(), engine.manifest.dims, 4, DEFAULT_CACHE_RESERVE_MB * 2 ** 20);
      expect(reserved).toBeGreaterThan(0);
      const text = await sidecarMetrics(engine).metrics();
      expect(line(text, "steerguard_sidecar_cache_reserved_bytes")).toBe(`steerguard_sidecar_cache_reserved_bytes ${reserved}`);
      expect(line(text, "steerguard_sidecar_buffer_pool_bytes")).toBe(`steerguard_sidecar_buffer_pool_bytes ${reserved}`);
    } finally {
      await engine.close();
    }
  });
});
