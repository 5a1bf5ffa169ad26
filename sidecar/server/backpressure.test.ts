/**
 * The gRPC server's part of backpressure: a RESOURCE_EXHAUSTED from the
 * backend reaches the client with its retry-after-ms and the queue in the
 * trailers, and a call that succeeds carries the queue in its trailers too.
 */
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { connectSidecar, deadlineIn, type SidecarClients } from "../../proto/client.ts";
import { GenerateChunk, GenerateRequest, InfoResponse, ProbeResponse, SidecarLoad } from "../../proto/gen/steerguard/v1/sidecar.ts";
import { QUEUE_DEPTH, QUEUE_LIMIT, RETRY_AFTER_MS } from "../../proto/metadata.ts";
import { SidecarError, type SidecarBackend } from "./backend.ts";
import { startSidecarServer, type RunningSidecar } from "./index.ts";

/** A backend whose queue is whatever the test sets; a prompt "full" is refused as a full queue would be. */
class QueueBackend implements SidecarBackend {
  queue = SidecarLoad.fromPartial({ queueDepth: 3, queueLimit: 4, maxBatch: 2 });
  info() {
    return InfoResponse.fromPartial({ modelId: "fake", load: this.load() });
  }
  load() {
    return this.queue;
  }
  async *generate(req: GenerateRequest) {
    if (req.input?.$case === "prompt" && req.input.value === "full") {
      throw new SidecarError(grpc.status.RESOURCE_EXHAUSTED, "the request queue is full", { [RETRY_AFTER_MS]: "3000" });
    }
    yield GenerateChunk.fromPartial({ text: "ok", finish: {} });
  }
  async probe() {
    return ProbeResponse.fromPartial({});
  }
}

function call(clients: SidecarClients, prompt: string): Promise<grpc.StatusObject> {
  return new Promise((resolve) => {
    const stream = clients.sidecar.generate(GenerateRequest.fromPartial({ requestId: "r", input: { $case: "prompt", value: prompt } }), { deadline: deadlineIn(5_000) });
    stream.on("data", () => {});
    stream.on("error", () => {});
    stream.on("status", resolve);
  });
}

describe("sidecar server backpressure trailers", () => {
  let server: RunningSidecar | undefined;
  let clients: SidecarClients | undefined;
  afterEach(async () => {
    clients?.close();
    await server?.shutdown(0);
    server = clients = undefined;
  });

  it("sends retry-after-ms and the queue with RESOURCE_EXHAUSTED, and the queue with OK", async () => {
    const backend = new QueueBackend();
    server = await startSidecarServer({ backend, port: 0 });
    clients = connectSidecar(server.address);

    const refused = await call(clients, "full");
    expect(refused.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(refused.metadata.get(RETRY_AFTER_MS)).toEqual(["3000"]);
    expect(refused.metadata.get(QUEUE_DEPTH)).toEqual(["3"]);
    expect(refused.metadata.get(QUEUE_LIMIT)).toEqual(["4"]);

    backend.queue = SidecarLoad.fromPartial({ queueDepth: 1, queueLimit: 4 });
    const ok = await call(clients, "hello");
    expect(ok.code).toBe(grpc.status.OK);
    expect(ok.metadata.get(QUEUE_DEPTH)).toEqual(["1"]);
    expect(ok.metadata.get(QUEUE_LIMIT)).toEqual(["4"]);
    expect(ok.metadata.get(RETRY_AFTER_MS)).toEqual([]);
  });
});
