/** A short run of `npm run bench:edge` (real sidecars, real Deno edges, plaintext and mutual TLS): it prints the side-by-side tables. */
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
      { timeoutMs: 60_000 },
    );
    expect((await p.exited).code).toBe(0);
    const out = p.output();
    expect(out).toMatch(/1 client\s+p50 ms\s+[\d.]+\s+[\d.]+\s+-?[\d.]+/);
    expect(out).toMatch(/4 +clients\s+requests\/s/);
    expect(out).toContain("route via edge: unsteered");
    expect(out).toMatch(/edge's own time/);
    expect(out).toMatch(/direct calls have their finish chunk at p50 [\d.]+ ms/);
    // Mutual TLS beside plaintext: every path answered over TLS too.
    expect(out).toMatch(/via edge\s+p50 ms\s+[\d.]+\s+[\d.]+\s+-?[\d.]+/);
    expect(out).toMatch(/new connection \+ Health\.Check p50 ms\s+[\d.]+\s+[\d.]+/);
    const json = JSON.parse(out.slice(out.indexOf("{\n")));
    expect(json.mutual_tls.edge.p50).toBeGreaterThan(0);
    expect(json.mutual_tls.direct.p50).toBeGreaterThan(0);
  });
});
