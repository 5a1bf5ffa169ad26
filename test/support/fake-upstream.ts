/**
 * A fake OpenAI-compatible upstream (chat completions only, as the edge calls
 * it) on a real socket: it answers a fixed text, streamed in `pieces` or
 * whole, and records every request it gets (path, authorization, body, the
 * last user turn), so a test can check what the edge sent upstream, or that a
 * risky prompt never reached it.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface UpstreamRequest {
  /** Date.now() when it arrived. */
  at: number;
  path: string;
  auth: string | undefined;
  body: Record<string, unknown>;
  /** The last user turn's content. */
  prompt: string;
}

export class FakeUpstream {
  readonly seen: UpstreamRequest[] = [];
  /** Base URL (…/v1) once started. */
  url = "";
  private server: Server | null = null;

  /** `pieces`: the answer's text, one stream chunk each (joined when not streamed). */
  constructor(readonly pieces: readonly string[] = ["from ", "upstream"]) {}

  get text(): string {
    return this.pieces.join("");
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      void readJson(req).then((body) => {
        if (req.method !== "POST" || !req.url?.endsWith("/chat/completions") || !body) {
          res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ error: { message: "not found", type: "invalid_request_error", param: null } }));
          return;
        }
        const msgs = (body.messages as Array<{ role?: string; content?: unknown }> | undefined) ?? [];
        const prompt = String(msgs.filter((m) => m.role === "user").at(-1)?.content ?? "");
        this.seen.push({ at: Date.now(), path: req.url, auth: req.headers.authorization, body, prompt });
        const base = { id: "chatcmpl-upstream", created: Math.floor(Date.now() / 1000), model: String(body.model ?? "upstream") };
        if (!body.stream) {
          const usage = { prompt_tokens: 1, completion_tokens: this.pieces.length, total_tokens: 1 + this.pieces.length };
          const answer = { ...base, object: "chat.completion", choices: [{ index: 0, message: { role: "assistant", content: this.text }, finish_reason: "stop" }], usage };
          res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(answer));
          return;
        }
        const chunk = (delta: object, finish: string | null) => `data: ${JSON.stringify({ ...base, object: "chat.completion.chunk", choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
        res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
        res.end(this.pieces.map((p, i) => chunk(i === 0 ? { role: "assistant", content: p } : { content: p }, null)).join("") + chunk({}, "stop") + "data: [DONE]\n\n");
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    this.server = server;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
    return this;
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

function readJson(req: IncomingMessage): Promise<Record<string, unknown> | null> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    req.on("data", (b: Buffer) => parts.push(b));
    req.on("error", () => resolve(null));
    req.on("end", () => {
      try {
        resolve(JSON.parse(Buffer.concat(parts).toString("utf8")) as Record<string, unknown>);
      } catch {
        resolve(null);
      }
    });
  });
}
