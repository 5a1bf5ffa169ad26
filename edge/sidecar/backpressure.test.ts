/**
 * The pool learns each sidecar's queue (Info on every health round, trailers
 * of every call), tries another sidecar when one answers RESOURCE_EXHAUSTED,
 * passes the sidecar's retry-after on, and reports saturation when every
 * healthy sidecar is at its admission limit. In-process gRPC sidecars.
 */
import * as grpc from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import { afterEach, describe, expect, it } from "vitest";
import { FinishReason, GenerateChunk, GenerateRequest, InfoResponse, SidecarLoad, SidecarService, type SidecarServer } from "../../proto/gen/steerguard/v1/sidecar.ts";
import { QUEUE_DEPTH, QUEUE_LIMIT, RETRY_AFTER_MS } from "../../proto/metadata.ts";
import { SidecarFailure, SidecarPool } from "./index.ts";

/** A sidecar whose queue the test sets: full means Generate answers RESOURCE_EXHAUSTED. */
async function queueSidecar(limit: number) {
  let depth = 0;
  const served: string[] = [];
  const server = new grpc.Server();
  new HealthImplementation({ "": "SERVING", "steerguard.v1.Sidecar": "SERVING" }).addToServer(server);
  const trailers = (extra: Record<string, string> = {}) => {
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries({ [QUEUE_DEPTH]: String(depth), [QUEUE_LIMIT]: String(limit), ...extra })) md.set(k, v);
    return md;
  };
  const impl: SidecarServer = {
    info(_call, cb) {
      cb(null, InfoResponse.fromPartial({ modelId: "m", load: SidecarLoad.fromPartial({ queueDepth: depth, queueLimit: limit, saturated: depth >= limit }) }));
    },
    probe(_call, cb) {
      cb({ code: grpc.status.UNIMPLEMENTED });
    },
    generate(call) {
      if (depth >= limit) {
        call.emit("error", { code: grpc.status.RESOURCE_EXHAUSTED, details: "the request queue is full", metadata: trailers({ [RETRY_AFTER_MS]: "7000" }) });
        return;
      }
      served.push(call.request.requestId);
      call.write(GenerateChunk.fromPartial({ text: "hi", finish: { reason: FinishReason.FINISH_REASON_STOP } }));
      call.end(trailers());
    },
  };
  server.addService(SidecarService, impl);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    address: `127.0.0.1:${port}`,
    served,
    setDepth(d: number) {
      depth = d;
    },
    close: () => server.forceShutdown(),
  };
}

const request = (id: string) => GenerateRequest.fromPartial({ requestId: id, input: { $case: "prompt", value: "x" } });
const opts = { deadlineMs: 5_000, firstChunkTimeoutMs: 5_000 };

async function finish(pool: SidecarPool, id: string) {
  const gen = await pool.start(request(id), opts);
  for await (const _ of gen.rest) {
    // drain: the trailers arrive with the end
  }
  return gen.address;
}

describe("SidecarPool backpressure", () => {
  const cleanup: Array<() => void> = [];
  afterEach(() => {
    for (const c of cleanup.splice(0)) c();
  });

  it("reports saturation from Info, fails over on RESOURCE_EXHAUSTED, and passes the retry-after on", async () => {
    const a = await queueSidecar(2);
    const b = await queueSidecar(2);
    cleanup.push(a.close, b.close);
    const pool = new SidecarPool([a.address, b.address], { healthIntervalMs: 60_000, healthTimeoutMs: 2_000 });
    cleanup.push(() => pool.close());

    await pool.startHealthChecks();
    expect(pool.ready()).toBe(true);
    expect(pool.saturation()).toBeNull();
    expect(pool.status().map((s) => s.queue)).toEqual([
      { depth: 0, limit: 2, saturated: false },
      { depth: 0, limit: 2, saturated: false },
    ]);

    // a is full: whichever the round robin picks, b serves.
    a.setDepth(2);
    for (const id of ["r1", "r2"]) expect(await finish(pool, id)).toBe(b.address);
    expect(b.served).toEqual(["r1", "r2"]);
    expect(pool.status()[0]!.queue).toEqual({ depth: 2, limit: 2, saturated: true });
    expect(pool.saturation()).toBeNull(); // b still has room

    // Both full: the answer is RESOURCE_EXHAUSTED with the sidecar's retry-after, and the pool is saturated.
    b.setDepth(2);
    const err = await pool.start(request("r3"), opts).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SidecarFailure);
    expect(err).toMatchObject({ kind: "overloaded", retryAfterMs: 7000, grpcCode: grpc.status.RESOURCE_EXHAUSTED });
    expect(pool.saturation()).toMatch(/^saturated: every healthy sidecar reports its queue at its admission limit: .*2 waiting, admission limit 2/);

    // The queues drain: the next health round (Info) clears it.
    a.setDepth(0);
    b.setDepth(1);
    await pool.startHealthChecks();
    expect(pool.saturation()).toBeNull();
    expect(pool.status().map((s) => s.queue?.depth)).toEqual([0, 1]);
  });

  it("a call's trailers update the queue between health rounds", async () => {
    const a = await queueSidecar(3);
    cleanup.push(a.close);
    const pool = new SidecarPool([a.address], { healthIntervalMs: 60_000, healthTimeoutMs: 2_000 });
    cleanup.push(() => pool.close());
    await pool.startHealthChecks();
    a.setDepth(2);
    await finish(pool, "t1");
    expect(pool.status()[0]!.queue).toEqual({ depth: 2, limit: 3, saturated: false });
    a.setDepth(3);
    await pool.start(request("t2"), opts).catch(() => undefined);
    expect(pool.saturation()).toMatch(/3 waiting, admission limit 3/);
  });
});
