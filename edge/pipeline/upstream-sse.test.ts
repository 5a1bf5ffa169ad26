import { describe, expect, it } from "vitest";
import { MAX_COMPLETION_CHARS, UpstreamSseReader } from "./upstream-sse.ts";

const enc = new TextEncoder();
const frame = (o: unknown) => `data: ${typeof o === "string" ? o : JSON.stringify(o)}\n\n`;
const delta = (content: string, index = 0) => ({ choices: [{ index, delta: { content }, finish_reason: null }] });
/** Feeds `text` cut into pieces of `size` bytes (so frames, JSON and UTF-8 characters are split). */
function read(text: string, size = 7): UpstreamSseReader {
  const r = new UpstreamSseReader();
  const bytes = enc.encode(text);
  for (let i = 0; i < bytes.length; i += size) r.feed(bytes.subarray(i, i + size));
  return r;
}

describe("UpstreamSseReader", () => {
  it("reads choice 0's text, finish reason and usage from frames split anywhere, multi-byte characters included", () => {
    const stream = frame(delta("Once upon ")) + frame(delta("a time, naïve 🐉")) + frame({ choices: [{ index: 0, delta: {}, finish_reason: "stop" }] }) + frame({ choices: [], usage: { prompt_tokens: 12, completion_tokens: 5 } }) + frame("[DONE]");
    for (const size of [1, 3, 7, 1000]) {
      const r = read(stream, size);
      expect(r.completion()).toBe("Once upon a time, naïve 🐉");
      expect([r.finishReason, r.promptTokens, r.completionTokens]).toEqual(["stop", 12, 5]);
    }
  });

  it("reads JSON as any server writes it: spaces, CRLF line ends, usage before completion tokens or after", () => {
    const r = read('data: {"choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": "length"}]}\r\n\r\ndata: {"usage": {"completion_tokens": 1, "prompt_tokens": 3}}\r\n\r\n');
    expect([r.completion(), r.finishReason, r.promptTokens, r.completionTokens]).toEqual(["hi", "length", 3, 1]);
  });

  it("keeps only choice 0 and skips payloads that are not JSON, comments and other fields", () => {
    const r = read(": keep-alive\n\n" + frame(delta("one")) + frame(delta("OTHER", 1)) + "data: not json\n\n" + "event: ping\ndata: {}\n\n" + frame(delta(" two")));
    expect(r.completion()).toBe("one two");
  });

  it("no longer claims to know the text past MAX_COMPLETION_CHARS, and still reads the finish reason", () => {
    const big = "x".repeat(1 << 20);
    let s = "";
    for (let n = 0; n <= MAX_COMPLETION_CHARS; n += big.length) s += frame(delta(big));
    const r = read(s + frame({ choices: [{ index: 0, delta: {}, finish_reason: "stop" }] }), 1 << 16);
    expect(r.completion()).toBeUndefined();
    expect(r.finishReason).toBe("stop");
  });

  it("gives up on a stream whose frame never ends, without throwing", () => {
    const r = new UpstreamSseReader();
    const junk = enc.encode("data: " + "y".repeat(1 << 16));
    for (let i = 0; i < 40; i++) r.feed(junk);
    expect(r.completion()).toBeUndefined();
  });
});
