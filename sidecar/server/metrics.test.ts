import { afterEach, describe, expect, it } from "vitest";
import { SidecarLoad } from "../../proto/gen/steerguard/v1/sidecar.ts";
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
    };
    const registry = sidecarMetrics(source);
    let text = await registry.metrics();
    expect(line(text, "steerguard_sidecar_queue_depth")).toBe("steerguard_sidecar_queue_depth 5");
    expect(line(text, "steerguard_sidecar_queue_limit")).toBe("steerguard_sidecar_queue_limit 8");
    expect(line(text, "steerguard_sidecar_service_seconds")).toBe("steerguard_sidecar_service_seconds 1.5");
    expect(line(text, "steerguard_sidecar_retry_after_seconds")).toBe("steerguard_sidecar_retry_after_seconds 4");
    expect(line(text, "steerguard_sidecar_saturated")).toBe("steerguard_sidecar_saturated 0");
    expect(line(text, "steerguard_sidecar_queue_full_total")).toBe("steerguard_sidecar_queue_full_total 0");

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
    expect((await fetch(`http://127.0.0.1:${served.port}/other`)).status).toBe(404);
  });
});
