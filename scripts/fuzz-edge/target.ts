/**
 * What the fuzzer runs against: the real edge under Deno (with the
 * launchers' permissions, test/support/edge.ts) in front of the in-process
 * fake gRPC sidecar (test/support/fake-sidecar.ts), with an events file, no
 * rate limit, and a short body deadline so that bodies left unfinished get
 * their 408 well within the fuzzer's hang deadline. A condition band puts
 * part of the traffic on the conditional route (with the shipped classifier,
 * of the fuzzer's prompts "Hello" and the dog story fall in it, the bomb
 * question is steered and "What is 2+2?" unsteered), whose outcome the fake
 * sidecar reports on its first chunk.
 */
import { join } from "node:path";
import { startEdge } from "../../test/support/edge.ts";
import { startFakeSidecar } from "../../test/support/fake-sidecar.ts";

export const FUZZ_KEY = "fuzz-key";
export const BODY_TIMEOUT_MS = 1_000;
export const MAX_BODY_BYTES = 1_048_576;
export const CONDITION_BAND = { low: 0.001, high: 0.5 };

export interface Target {
  url: URL;
  key: string;
  maxBodyBytes: number;
  alive(): boolean;
  /** The edge's output so far (its log). */
  output(): string;
  stop(): Promise<void>;
}

export async function startTarget(): Promise<Target> {
  const fake = await startFakeSidecar({ modelId: "organism260K" });
  let edge: Awaited<ReturnType<typeof startEdge>>;
  try {
    edge = await startEdge(
      (dir) => ({
        sidecars: [fake.address],
        steering: { profile: "refusal" },
        classifier: { condition_band: CONDITION_BAND },
        rate_limit: { requests_per_minute: 0 },
        limits: { body_timeout_ms: BODY_TIMEOUT_MS, max_body_bytes: MAX_BODY_BYTES },
        events: { path: join(dir, "events.jsonl") },
      }),
      { env: { STEERGUARD_API_KEYS: FUZZ_KEY } },
    );
  } catch (err) {
    await fake.close();
    throw err;
  }
  let exited = false;
  void edge.exited.then(() => (exited = true));
  return {
    url: new URL(edge.url),
    key: FUZZ_KEY,
    maxBodyBytes: MAX_BODY_BYTES,
    alive: () => !exited,
    output: edge.output,
    async stop() {
      edge.child.kill("SIGTERM");
      await edge.exited;
      await fake.close();
    },
  };
}
