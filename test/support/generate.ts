/**
 * A Generate call's token ids over real gRPC, failing the test on a stream error.
 */
import { expect } from "vitest";
import { collectGenerate, type SidecarClients } from "../../proto/client.ts";
import type { GenerateRequest } from "../../proto/gen/steerguard/v1/sidecar.ts";

export async function generatedTokens(c: SidecarClients, req: GenerateRequest, deadlineMs = 20_000): Promise<number[]> {
  const r = await collectGenerate(c.sidecar, req, deadlineMs);
  expect(r.error).toBeUndefined();
  return r.chunks.flatMap((chunk) => chunk.tokenIds);
}
