import { describe, expect, it } from "vitest";
import { Metrics } from "./index.ts";

describe("metrics", () => {
  it("exposes Prometheus text labelled by arm and route", async () => {
    const m = new Metrics();
    m.requests.inc({ arm: "a", route: "steered", status: "200", backend: "sidecar" });
    m.duration.observe({ arm: "a", route: "steered" }, 0.01);
    m.sidecarHealthy.set({ address: "x:1" }, 1);
    const text = await m.text();
    expect(m.contentType).toContain("text/plain");
    expect(text).toContain('steerguard_requests_total{arm="a",route="steered",status="200",backend="sidecar"} 1');
    expect(text).toContain('steerguard_request_duration_seconds_count{arm="a",route="steered"} 1');
    expect(text).toContain('steerguard_sidecar_healthy{address="x:1"} 1');
  });

  it("keeps registries separate per instance", async () => {
    const a = new Metrics();
    const b = new Metrics();
    a.inflight.inc();
    expect(await b.text()).toContain("steerguard_inflight_requests 0");
  });
});
