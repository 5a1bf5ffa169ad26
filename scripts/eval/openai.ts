/**
 * A minimal OpenAI-compatible chat-completions client (POST
 * {baseUrl}/chat/completions), for the optional LLM judge and the optional
 * multi-turn attacker. Plain fetch: no SDK, works against any server that
 * speaks the API (vLLM, llama.cpp, Ollama, OpenAI, our own edge).
 */
export interface ChatTurn {
  role: "system" | "user" | "assistant";
  content: string;
}

export interface ChatClientOptions {
  /** Base URL up to /v1, e.g. http://localhost:8000/v1 */
  baseUrl: string;
  model: string;
  /** Bearer token (default: $OPENAI_API_KEY when set). */
  apiKey?: string;
  temperature?: number;
  maxTokens?: number;
  timeoutMs?: number;
  fetchImpl?: typeof fetch;
}

export class ChatClient {
  constructor(readonly opts: ChatClientOptions) {}

  async complete(messages: readonly ChatTurn[], over: { maxTokens?: number; temperature?: number; seed?: number } = {}): Promise<string> {
    const o = this.opts;
    const url = `${o.baseUrl.replace(/\/+$/, "")}/chat/completions`;
    const headers: Record<string, string> = { "content-type": "application/json" };
    const key = o.apiKey ?? process.env.OPENAI_API_KEY;
    if (key) headers.authorization = `Bearer ${key}`;
    const body = {
      model: o.model,
      messages,
      temperature: over.temperature ?? o.temperature ?? 0,
      max_tokens: over.maxTokens ?? o.maxTokens ?? 256,
      ...(over.seed !== undefined ? { seed: over.seed } : {}),
    };
    const res = await (o.fetchImpl ?? fetch)(url, {
      method: "POST",
      headers,
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(o.timeoutMs ?? 120_000),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${url}: HTTP ${res.status}: ${text.slice(0, 300)}`);
    const json = JSON.parse(text) as { choices?: { message?: { content?: string | null } }[] };
    const content = json.choices?.[0]?.message?.content;
    if (typeof content !== "string") throw new Error(`${url}: no choices[0].message.content in the reply`);
    return content;
  }
}
