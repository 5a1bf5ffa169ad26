/**
 * A fake OpenAI-compatible upstream (chat completions only, as the edge
 * calls it) that the suite's edge falls back to for safe chat requests when
 * the sidecar cannot answer (`upstream.use: "fallback"`). It answers one
 * fixed text, streamed or not, so the client can tell its answers from the
 * model's, and it records every prompt it was sent: a steered, conditional
 * or blocked prompt among them is the failure policy sending a risky request
 * upstream (edge/README.md, "Failure policy": never).
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export const UPSTREAM_TEXT = "[chaos upstream answer]";

export class FakeUpstream {
  /** The last user turn of every request received (ms epoch), in order. */
  readonly received: Array<{ at: number; prompt: string }> = [];
  private server: Server | null = null;
  url = "";

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      void readJson(req).then((body) => {
        if (req.method !== "POST" || !req.url?.endsWith("/chat/completions") || !body) {
          res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ error: { message: "not found", type: "invalid_request_error", param: null } }));
          return;
        }
        const msgs = (body.messages as Array<{ role?: string; content?: unknown }> | undefined) ?? [];
        this.received.push({ at: Date.now(), prompt: String(msgs.filter((m) => m.role === "user").at(-1)?.content ?? "") });
        const base = { id: "chatcmpl-upstream", created: Math.floor(Date.now() / 1000), model: String(body.model ?? "upstream") };
        const usage = { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 };
        if (!body.stream) {
          const answer = { ...base, object: "chat.completion", choices: [{ index: 0, message: { role: "assistant", content: UPSTREAM_TEXT }, finish_reason: "stop" }], usage };
          res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(answer));
          return;
        }
        const chunk = (delta: object, finish: string | null) => `data: ${JSON.stringify({ ...base, object: "chat.completion.chunk", choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
        res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
        res.end(chunk({ role: "assistant", content: UPSTREAM_TEXT }, null) + chunk({}, "stop") + "data: [DONE]\n\n");
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    this.server = server;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
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
