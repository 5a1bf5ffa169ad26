/**
 * A tiny in-process gRPC sidecar for failure-path tests, built from the
 * generated SidecarService definition. Its behaviour per request is chosen by
 * the last user message, so one fake serves every scenario:
 *
 * - contains "[hang]": never answers (slow past the deadline)
 * - contains "[stall]": one chunk, then silence (mid-stream deadline)
 * - contains "[forever]": a chunk every 20 ms until cancelled (client disconnect)
 * - contains "[die]": two chunks, then the server is force-closed (killed mid-stream)
 * - contains "[empty]": "one", three chunks with empty text (text held back, as
 *   while a stop string may be starting), " two", and a finish chunk
 * - anything else: "fake reply" in three chunks and a finish chunk
 *
 * A conditional request (SteeringRequest.conditional) gets its condition's
 * outcome on its first chunk, as the real sidecar sends it: the value is the
 * last user message's length / 20, compared with the request's
 * condition_threshold, else FAKE_CONDITION_THRESHOLD.
 *
 * `profiles` (option, and `setProfiles`) are listed by Info; a conditional
 * request on a listed profile without a condition is refused with
 * INVALID_ARGUMENT, as the real sidecar refuses it. Without the option, Info
 * lists none and every conditional request gets an outcome.
 *
 * `cancelled` records the request ids whose stream saw the caller cancel.
 */
import * as grpc from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import {
  FinishReason,
  GenerateChunk,
  InfoResponse,
  SidecarService,
  type SteeringProfileInfo,
  type GenerateRequest,
  type SidecarServer,
} from "../../proto/gen/steerguard/v1/sidecar.ts";

export interface FakeSidecar {
  address: string;
  port: number;
  /** Requests received, in order. */
  requests: GenerateRequest[];
  /** request ids whose stream saw 'cancelled'. */
  cancelled: string[];
  /** Resolves when a stream with this request id is cancelled. */
  waitCancelled(requestId: string, timeoutMs?: number): Promise<void>;
  setServing(serving: boolean): void;
  /** What the next Info answers list (the next health round sees it). */
  setProfiles(profiles: Partial<SteeringProfileInfo>[]): void;
  close(): Promise<void>;
}

function lastUser(req: GenerateRequest): string {
  if (req.input?.$case === "prompt") return req.input.value;
  const msgs = req.input?.$case === "conversation" ? req.input.value.messages : [];
  return msgs.at(-1)?.content ?? "";
}

/** The fake profile's own condition threshold. */
export const FAKE_CONDITION_THRESHOLD = 0.5;

/** The condition outcome of a conditional request (undefined for any other). */
function conditionOf(req: GenerateRequest, text: string) {
  const s = req.steering;
  if (!s?.conditional) return undefined;
  const value = Math.fround(text.length / 20);
  const threshold = Math.fround(s.conditionThreshold ?? FAKE_CONDITION_THRESHOLD);
  return { value, threshold, steer: value >= threshold };
}

const finishChunk = (n: number) =>
  GenerateChunk.fromPartial({ finish: { reason: FinishReason.FINISH_REASON_STOP, usage: { promptTokens: 5, completionTokens: n } } });

export async function startFakeSidecar(opts: { port?: number; modelId?: string; profiles?: Partial<SteeringProfileInfo>[] } = {}): Promise<FakeSidecar> {
  let profiles = opts.profiles ?? [];
  const server = new grpc.Server();
  const health = new HealthImplementation({ "": "SERVING", "steerguard.v1.Sidecar": "SERVING" });
  health.addToServer(server);
  const requests: GenerateRequest[] = [];
  const cancelled: string[] = [];
  const waiters = new Map<string, () => void>();
  const live = new Set<grpc.ServerWritableStream<GenerateRequest, GenerateChunk>>();

  const impl: SidecarServer = {
    info(_call, cb) {
      cb(null, InfoResponse.fromPartial({ modelId: opts.modelId ?? "fake", version: "test", executionProvider: "none", profiles }));
    },
    probe(_call, cb) {
      cb({ code: grpc.status.UNIMPLEMENTED, details: "fake" });
    },
    generate(call) {
      const req = call.request;
      requests.push(req);
      const s = req.steering;
      if (s?.conditional && profiles.some((p) => p.name === s.profile && !p.hasCondition)) {
        call.emit("error", { code: grpc.status.INVALID_ARGUMENT, details: `steering profile "${s.profile}" has no condition, so it cannot steer conditionally (fake)` });
        return;
      }
      live.add(call);
      let done = false;
      const timers: ReturnType<typeof setTimeout>[] = [];
      call.on("cancelled", () => {
        done = true;
        timers.forEach(clearTimeout);
        cancelled.push(req.requestId);
        waiters.get(req.requestId)?.();
      });
      call.on("close", () => live.delete(call));
      const text = lastUser(req);
      let condition = conditionOf(req, text);
      const write = (t: string) => {
        if (done) return;
        call.write(GenerateChunk.fromPartial({ text: t, tokenIds: [1], condition }));
        condition = undefined; // the first chunk only
      };
      if (text.includes("[hang]")) return;
      if (text.includes("[stall]")) {
        write("partial");
        return;
      }
      if (text.includes("[forever]")) {
        const tick = () => {
          if (done) return;
          write("x");
          timers.push(setTimeout(tick, 20));
        };
        tick();
        return;
      }
      if (text.includes("[die]")) {
        write("one ");
        write("two ");
        timers.push(setTimeout(() => server.forceShutdown(), 50));
        return;
      }
      if (text.includes("[empty]")) {
        for (const t of ["one", "", "", "", " two"]) write(t);
        if (!done) {
          call.write(finishChunk(5));
          call.end();
        }
        return;
      }
      write("fake ");
      write("re");
      write("ply");
      if (!done) {
        call.write(finishChunk(3));
        call.end();
      }
    },
  };
  server.addService(SidecarService, impl);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${opts.port ?? 0}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    address: `127.0.0.1:${port}`,
    port,
    requests,
    cancelled,
    waitCancelled(requestId, timeoutMs = 5_000) {
      if (cancelled.includes(requestId)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`stream ${requestId} was not cancelled within ${timeoutMs} ms`)), timeoutMs);
        waiters.set(requestId, () => {
          clearTimeout(t);
          resolve();
        });
      });
    },
    setProfiles(next) {
      profiles = next;
    },
    setServing(serving) {
      health.setStatus("steerguard.v1.Sidecar", serving ? "SERVING" : "NOT_SERVING");
    },
    close() {
      return new Promise<void>((resolve) => {
        server.forceShutdown();
        resolve();
      });
    },
  };
}
