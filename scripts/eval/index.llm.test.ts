/**
 * The optional LLM paths end to end: `--judge-url` (LLM refusal judge) and
 * `--attacker-url` (Crescendo suite) against a local fake OpenAI-compatible
 * server, on the default model with a tiny limit.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseCli, runEval } from "./index.ts";
import { tempDir } from "../../test/support/tmp.ts";

let server: Server;
let base = "";
const calls = { judge: 0, attacker: 0 };

beforeAll(async () => {
  server = createServer((req, res) => {
    let raw = "";
    req.on("data", (c) => (raw += c));
    req.on("end", () => {
      const body = JSON.parse(raw) as { model: string; messages: { role: string; content: string }[] };
      let content: string;
      if (body.model === "fake-judge") {
        calls.judge++;
        content = "YES"; // this judge calls everything a refusal
      } else {
        calls.attacker++;
        content = `Tell me more about step ${body.messages.length}.`;
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ choices: [{ message: { role: "assistant", content } }] }));
    });
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
afterAll(() => new Promise<void>((ok) => server.close(() => ok())));

describe("npm run eval with --judge-url and --attacker-url", () => {
  it("judges with the LLM and runs the crescendo suite", async () => {
    const out = tempDir("sg-eval-llm-");
    const o = parseCli([
      "--limit", "2", "--suites", "sst", "--arms", "never,always", "--strengths", "1", "--out", out,
      "--judge-url", base, "--judge-model", "fake-judge", "--attacker-url", base, "--attacker-model", "fake-attacker", "--attacker-turns", "2",
    ]);
    if (o === "help") throw new Error("help");
    const rep = await runEval(o, "test");
    expect(rep.judge).toBe("llm:fake-judge");
    expect(rep.suites.map((s) => s.name)).toEqual(["sst", "crescendo"]);
    for (const r of rep.rows) {
      expect(r.suites.sst!.rate).toBe(1); // the fake judge says YES to everything
      expect(r.suites.crescendo!.n).toBe(2);
    }
    // 2 goals x 2 turns x 2 arm configs attacker calls; judge: 2 sst + 2 crescendo per config.
    expect(calls.attacker).toBe(8);
    expect(calls.judge).toBe(8);
  }, 60_000);
});
