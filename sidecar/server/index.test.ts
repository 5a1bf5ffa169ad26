import * as grpc from "@grpc/grpc-js";
import * as http2 from "node:http2";
import { afterEach, describe, expect, it } from "vitest";
import { collectGenerate, connectSidecar, unary, type SidecarClients } from "../../proto/client.ts";
import { HealthCheckResponse_ServingStatus } from "../../proto/gen/health/v1/health.ts";
import { GenerateChunk, GenerateRequest, InfoResponse, ProbeResponse } from "../../proto/gen/steerguard/v1/sidecar.ts";
import { SidecarError, type SidecarBackend } from "./backend.ts";
import { SIDECAR_SERVICE_NAME, startSidecarServer, type RunningSidecar } from "./index.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A backend that streams `n` chunks `gapMs` apart and records what happened. */
class FakeBackend implements SidecarBackend {
  aborted = false;
  finished = false;
  constructor(
    private readonly n: number,
    private readonly gapMs: number,
  ) {}
  info() {
    return InfoResponse.fromPartial({ modelId: "fake", numLayers: 3 });
  }
  async *generate(req: GenerateRequest, signal: AbortSignal) {
    if (req.input?.$case === "prompt" && req.input.value === "bad") {
      throw new SidecarError(grpc.status.INVALID_ARGUMENT, "prompt is bad");
    }
    try {
      for (let i = 0; i < this.n && !signal.aborted; i++) {
        await sleep(this.gapMs);
        yield GenerateChunk.fromPartial({ text: `t${i}`, tokenIds: [i] });
      }
      this.finished = !signal.aborted;
    } finally {
      // Runs both when the loop sees the signal and when the consumer stops pulling.
      this.aborted = signal.aborted;
    }
  }
  async probe() {
    return ProbeResponse.fromPartial({ promptTokens: 4 });
  }
}

function collect(clients: SidecarClients, prompt: string, deadlineMs = 10_000) {
  return collectGenerate(clients.sidecar, GenerateRequest.fromPartial({ requestId: "r", input: { $case: "prompt", value: prompt } }), deadlineMs);
}

describe("sidecar gRPC server", () => {
  let server: RunningSidecar | undefined;
  let clients: SidecarClients | undefined;
  afterEach(async () => {
    clients?.close();
    await server?.shutdown(0);
    server = clients = undefined;
  });

  async function start(backend: SidecarBackend) {
    server = await startSidecarServer({ backend, port: 0 });
    clients = connectSidecar(server.address);
    return clients;
  }

  it("reports SERVING for the server and the Sidecar service, and answers Info", async () => {
    const c = await start(new FakeBackend(1, 0));
    for (const service of ["", SIDECAR_SERVICE_NAME]) {
      const res = await unary(c.health.check.bind(c.health), { service }, 5_000);
      expect(res.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    }
    const info = await unary(c.sidecar.info.bind(c.sidecar), {}, 5_000);
    expect(info.modelId).toBe("fake");
    expect(info.numLayers).toBe(3);
  });

  it("reports NOT_SERVING while the backend says it cannot generate, and SERVING once it can again", async () => {
    const backend = new FakeBackend(1, 0);
    let tell: (serving: boolean) => void = () => {};
    Object.assign(backend, { onServing: (l: (serving: boolean) => void) => (tell = l) });
    const c = await start(backend);
    const statuses = () => Promise.all(["", SIDECAR_SERVICE_NAME].map((service) => unary(c.health.check.bind(c.health), { service }, 5_000).then((r) => r.status)));
    const { SERVING, NOT_SERVING } = HealthCheckResponse_ServingStatus;
    expect(await statuses()).toEqual([SERVING, SERVING]);
    tell(false);
    expect(await statuses()).toEqual([NOT_SERVING, NOT_SERVING]);
    tell(true);
    expect(await statuses()).toEqual([SERVING, SERVING]);
    // Shutting down wins over a backend that comes back meanwhile.
    const down = server!.shutdown(2_000);
    tell(true);
    expect(await statuses()).toEqual([NOT_SERVING, NOT_SERVING]);
    await down;
  });

  it("streams every chunk in order, and maps backend errors onto status codes", async () => {
    const c = await start(new FakeBackend(5, 1));
    const ok = await collect(c, "hello");
    expect(ok.error).toBeUndefined();
    expect(ok.chunks.map((x) => x.text)).toEqual(["t0", "t1", "t2", "t3", "t4"]);
    const bad = await collect(c, "bad");
    expect(bad.error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(bad.error?.details).toBe("prompt is bad");
  });

  it("stops the backend when the deadline passes", async () => {
    const backend = new FakeBackend(1000, 10);
    const c = await start(backend);
    const res = await collect(c, "slow", 150);
    expect(res.error?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    await sleep(100);
    expect(backend.aborted).toBe(true);
    expect(backend.finished).toBe(false);
  });

  it("lets an in-flight stream finish on shutdown, and refuses new calls", async () => {
    const backend = new FakeBackend(10, 30);
    const c = await start(backend);
    const inflight = collect(c, "hello");
    await sleep(60);
    const down = server!.shutdown(5_000);
    const late = await collect(c, "late");
    expect(late.error?.code).toBe(grpc.status.UNAVAILABLE);
    // the server stays open while it drains (no GOAWAY under running streams):
    // a new connection still reaches it and is told why it is refused
    const other = connectSidecar(server!.address);
    const refused = await collectGenerate(other.sidecar, GenerateRequest.fromPartial({ requestId: "n", input: { $case: "prompt", value: "new" } }), 5_000);
    other.close();
    expect(refused.error?.details).toMatch(/shutting down/);
    expect(backend.finished).toBe(false);
    const res = await inflight;
    await down;
    expect(res.error).toBeUndefined();
    expect(res.chunks).toHaveLength(10);
    expect(backend.finished).toBe(true);
  });

  it("closes a drained connection as TCP, with no HTTP/2 GOAWAY (which can abort the Deno edge: listener.ts)", async () => {
    const c = await start(new FakeBackend(2, 5));
    expect((await collect(c, "hello")).chunks).toHaveLength(2); // the gRPC client's connection has served a call
    const raw = http2.connect(`http://${server!.address}`);
    const goaways: number[] = [];
    raw.on("goaway", (code) => goaways.push(code));
    raw.on("error", () => {});
    await new Promise((r) => raw.once("remoteSettings", r));
    const closed = new Promise((r) => raw.once("close", r));
    await server!.shutdown(1_000);
    await closed;
    expect(goaways).toEqual([]);
    expect((await collect(c, "after")).error?.code).toBe(grpc.status.UNAVAILABLE);
  });

  it("cancels streams still running when the grace period ends", async () => {
    const backend = new FakeBackend(10_000, 10);
    const c = await start(backend);
    const inflight = collect(c, "forever");
    await sleep(50);
    const t0 = Date.now();
    await server!.shutdown(200);
    expect(Date.now() - t0).toBeLessThan(2_000);
    const res = await inflight;
    expect(res.error).toBeDefined();
    await sleep(50);
    expect(backend.aborted).toBe(true);
  });
});
