/**
 * One engine replica: a worker thread that loads its own Engine (its own
 * onnxruntime session, cache and scheduler) and serves the main thread's
 * messages (./protocol.ts). A model run blocks only this thread, so the
 * other replicas, and the main thread's gRPC traffic, go on meanwhile.
 */
import { parentPort, workerData } from "node:worker_threads";
import { status } from "@grpc/grpc-js";
import { Engine } from "../engine/engine.ts";
import { SidecarError } from "../server/backend.ts";
import type { FromReplica, ReplicaInit, ReplicaStats, ToReplica, WireError } from "./protocol.ts";

const port = parentPort!;
const init = workerData as ReplicaInit;
const post = (m: FromReplica) => port.postMessage(m);

function wireError(err: unknown): WireError {
  if (err instanceof SidecarError) return { code: err.code, message: err.message, metadata: { ...err.metadata } };
  return { code: status.INTERNAL, message: `replica ${init.index}: ${err instanceof Error ? err.message : String(err)}`, metadata: {} };
}

let engine: Engine;
const stats = (): ReplicaStats => ({ load: engine.load(), memory: engine.memory, refusedTotal: engine.refusedTotal });
const running = new Map<number, AbortController>();

async function generate({ id, request }: ToReplica & { type: "generate" }): Promise<void> {
  const ctl = new AbortController();
  running.set(id, ctl);
  try {
    for await (const chunk of engine.generate(request, ctl.signal)) post({ type: "chunk", id, chunk });
    post({ type: "end", id, stats: stats() });
  } catch (err) {
    post({ type: "error", id, error: wireError(err), stats: stats() });
  } finally {
    running.delete(id);
  }
}

async function probe(m: ToReplica & { type: "probe" }): Promise<void> {
  try {
    post({ type: "probed", id: m.id, response: await engine.probe(m.request) });
  } catch (err) {
    post({ type: "error", id: m.id, error: wireError(err), stats: stats() });
  }
}

port.on("message", (m: ToReplica) => {
  switch (m.type) {
    case "generate":
      void generate(m);
      break;
    case "abort":
      running.get(m.id)?.abort();
      break;
    case "probe":
      void probe(m);
      break;
    case "crash":
      setImmediate(() => {
        throw new Error("crash requested");
      });
      break;
    case "stall":
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, m.ms);
      break;
    case "close":
      for (const ctl of running.values()) ctl.abort();
      // The main thread waits for this thread's exit.
      void engine.close().finally(() => port.close());
      break;
  }
});

try {
  engine = await Engine.load(init.modelDir, {
    ...init.options,
    warn: (message) => process.stderr.write(`sidecar replica ${init.index}: ${message}\n`),
    onStep: (trace) => {
      if (init.traceSteps) post({ type: "step", trace });
      post({ type: "stats", stats: stats() });
    },
  });
  post({ type: "ready", info: engine.info(), device: engine.device, segments: engine.segments, graphLayout: engine.graphLayout, stats: stats() });
} catch (err) {
  post({ type: "failed", error: err instanceof Error ? err.message : String(err) });
  port.close();
}
