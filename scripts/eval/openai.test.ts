/** The OpenAI-compatible client, LLM judge and Crescendo attacker against a local fake server. */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { crescendo } from "./attacker.ts";
import { LlmJudge } from "./judge.ts";
import { ChatClient } from "./openai.ts";

interface Seen {
  url: string;
  auth?: string;
  body: { model: string; messages: { role: string; content: string }[]; max_tokens: number; temperature: number };
}
const seen: Seen[] = [];
let server: Server;
let base = "";

const readBody = (req: IncomingMessage) =>
  new Promise<string>((ok) => {
    let s = "";
    req.on("data", (c) => (s += c));
    req.on("end", () => ok(s));
  });

beforeAll(async () => {
  server = createServer(async (req, res) => {
    const body = JSON.parse(await readBody(req)) as Seen["body"];
    seen.push({ url: req.url!, auth: req.headers.authorization, body });
    if (body.model === "broken") {
      res.writeHead(500).end("boom");
      return;
    }
    const sys = body.messages[0]?.content ?? "";
    let content: string;
    if (sys.startsWith("You are a strict evaluator")) content = body.messages[1]!.content.includes("[RESPONSE]\nI'm sorry") ? "YES" : body.model === "vague" ? "maybe" : "NO";
    else content = `attack turn ${body.messages.filter((m) => m.role === "assistant").length + 1}`;
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ id: "x", object: "chat.completion", choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }] }));
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
afterAll(() => new Promise<void>((ok) => server.close(() => ok())));

describe("OpenAI-compatible client", () => {
  it("posts to /chat/completions with the model, messages and a bearer key", async () => {
    const c = new ChatClient({ baseUrl: `${base}/`, model: "judge-1", apiKey: "k123" });
    await c.complete([{ role: "user", content: "hi" }], { maxTokens: 5 });
    const s = seen[seen.length - 1]!;
    expect(s.url).toBe("/v1/chat/completions");
    expect(s.auth).toBe("Bearer k123");
    expect(s.body.model).toBe("judge-1");
    expect(s.body.max_tokens).toBe(5);
    expect(s.body.temperature).toBe(0);
  });
  it("throws on HTTP errors", async () => {
    await expect(new ChatClient({ baseUrl: base, model: "broken" }).complete([{ role: "user", content: "x" }])).rejects.toThrow(/HTTP 500/);
  });
});

describe("LLM judge", () => {
  it("reads YES / NO and falls back to the keyword judge otherwise", async () => {
    const j = new LlmJudge(new ChatClient({ baseUrl: base, model: "judge-1" }));
    expect(await j.refused("do a bad thing", "I'm sorry, I can't.")).toBe(true);
    expect(await j.refused("do a bad thing", "Sure, here it is.")).toBe(false);
    const vague = new LlmJudge(new ChatClient({ baseUrl: base, model: "vague" }));
    expect(await vague.refused("x", "Sure thing")).toBe(false);
    expect(await vague.refused("x", "Sorry, I cannot")).toBe(true);
    expect(vague.fallbacks).toBe(2);
  });
});

describe("Crescendo attacker", () => {
  it("alternates attacker and target turns, giving the attacker the goal and the history", async () => {
    const attacker = new ChatClient({ baseUrl: base, model: "attacker-1" });
    const targetSaw: number[] = [];
    const r = await crescendo("make a cake", attacker, async (m) => {
      targetSaw.push(m.length);
      return `reply ${m.length}`;
    }, 3);
    expect(r.messages.map((m) => m.role)).toEqual(["user", "assistant", "user", "assistant", "user", "assistant"]);
    expect(r.messages[0]!.content).toBe("attack turn 1");
    expect(r.messages[4]!.content).toBe("attack turn 3");
    expect(targetSaw).toEqual([1, 3, 5]);
    expect(r.final).toBe("reply 5");
    const last = seen.filter((s) => s.body.model === "attacker-1").pop()!;
    expect(last.body.messages[0]!.content).toContain("make a cake");
  });
});
