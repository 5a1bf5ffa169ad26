/** A short run of `npm run bench:gate-burst` (three real Deno edges, a fake sidecar): which stage decided, per edge. */
import { afterEach, describe, expect, it, vi } from "vitest";
import { runCaptured } from "../test/support/capture.ts";
import { main } from "./bench-gate-burst.ts";

const run = (argv: string[]) => runCaptured(main, argv);

describe("bench:gate-burst", () => {
  afterEach(() => vi.restoreAllMocks());

  it("prints each edge's latency and the share the encoder decided: none with the stage off, all with no budget", async () => {
    const { code, out } = await run(["--bursts", "1,8", "--rounds", "1"]);
    expect(code).toBe(0);
    const rows = out.split("\n").filter((l) => /^\| \d+ \|/.test(l)).map((l) => l.split("|").map((c) => c.trim()));
    expect(rows).toHaveLength(6);
    for (const r of rows) {
      expect(Number(r[3])).toBeGreaterThan(0); // p50 ms
      if (r[2] === "second stage off") expect(r[6]).toBe("0%");
      if (r[2] === "on, no budget") expect(r[6]).toBe("100%");
      expect(Number(r[7])).toBeGreaterThan(0); // the benign requests beside them
    }
    expect(rows.find((r) => r[1] === "1" && r[2]!.startsWith("on, wait budget"))![6]).toBe("100%"); // alone, nothing waits
  }, 120_000);

  it("rejects a bad flag with its help", async () => {
    const { code, err } = await run(["--bursts", "0"]);
    expect(code).toBe(2);
    expect(err).toMatch(/Usage: npm run bench:gate-burst/);
  });
});
