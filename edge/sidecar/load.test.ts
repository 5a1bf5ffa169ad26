import * as grpc from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { SidecarLoad } from "../../proto/gen/steerguard/v1/sidecar.ts";
import { QUEUE_DEPTH, QUEUE_LIMIT, RETRY_AFTER_MS } from "../../proto/metadata.ts";
import { loadFromInfo, loadFromMetadata, retryAfterFromMetadata } from "./load.ts";

const md = (record: Record<string, string>) => {
  const m = new grpc.Metadata();
  for (const [k, v] of Object.entries(record)) m.set(k, v);
  return m;
};

describe("sidecar load from trailers and Info", () => {
  it("reads the queue from trailers; a full queue is saturated, and a refusal always is", () => {
    expect(loadFromMetadata(md({ [QUEUE_DEPTH]: "2", [QUEUE_LIMIT]: "8" }), false, 5)).toEqual({ queueDepth: 2, queueLimit: 8, saturated: false, retryAfterMs: null, at: 5 });
    expect(loadFromMetadata(md({ [QUEUE_DEPTH]: "8", [QUEUE_LIMIT]: "8" }), false)?.saturated).toBe(true);
    expect(loadFromMetadata(md({ [QUEUE_DEPTH]: "1", [QUEUE_LIMIT]: "8", [RETRY_AFTER_MS]: "2000" }), true)).toMatchObject({ saturated: true, retryAfterMs: 2000 });
  });

  it("ignores trailers without a queue unless the call was refused, and malformed numbers", () => {
    expect(loadFromMetadata(md({}), false)).toBeNull();
    expect(loadFromMetadata(undefined, true)).toMatchObject({ saturated: true, retryAfterMs: null });
    expect(loadFromMetadata(md({ [QUEUE_DEPTH]: "many", [QUEUE_LIMIT]: "8" }), false)).toBeNull();
    expect(retryAfterFromMetadata(md({ [RETRY_AFTER_MS]: "-3" }))).toBeNull();
    expect(retryAfterFromMetadata(md({ [RETRY_AFTER_MS]: "4000" }))).toBe(4000);
  });

  it("reads Info's load", () => {
    expect(loadFromInfo(undefined)).toBeNull();
    const l = loadFromInfo(SidecarLoad.fromPartial({ queueDepth: 4, queueLimit: 4, saturated: true, retryAfterMs: 3000 }), 1);
    expect(l).toEqual({ queueDepth: 4, queueLimit: 4, saturated: true, retryAfterMs: 3000, at: 1 });
  });
});
