/** A short run of `npm run bench:edge` (real sidecar, real Deno edge): it prints the side-by-side table. */
import { describe, expect, it } from "vitest";
import { builtModel } from "../test/support/models.ts";
import { startProcess } from "../test/support/process.ts";

describe("bench:edge", () => {
  it("prints direct vs edge latency, added latency and requests/s", async () => {
    const model = await builtModel("organism260K");
    const p = await startProcess(
      process.execPath,
      ["--import", "tsx", "scripts/bench-edge.ts", "--model", model, "--requests", "10", "--warmup", "3", "--concurrency", "4", "--duration-s", "1", "--json"],
      /"classifier_ms"/,
      { timeoutMs: 45_000 },
    );
    expect((await p.exited).code).toBe(0);
    const out = p.output();
    expect(out).toMatch(/1 client\s+p50 ms\s+[\d.]+\s+[\d.]+\s+-?[\d.]+/);
    expect(out).toMatch(/4 +clients\s+requests\/s/);
    expect(out).toContain("route via edge: unsteered");
    expect(out).toMatch(/edge's own time/);
    expect(out).toMatch(/direct calls have their finish chunk at p50 [\d.]+ ms/);
  });
});
