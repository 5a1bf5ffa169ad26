/**
 * The suite's reading of each endpoint's answers, against the edge's own
 * wire-format writers (edge/chat, edge/responses, edge/completions): a
 * stream written by the edge, cut into arbitrary pieces, reads back as its
 * text, finish reason and end; an error mid-stream reads as an error end; a
 * stream with no end reads as cut, and the wire check (the fuzzer's) flags
 * it while passing the well-formed ones.
 */
import { describe, expect, it } from "vitest";
import { chatFormat } from "../../edge/chat/format.ts";
import { completionsFormat } from "../../edge/completions/format.ts";
import { errorBody, usage } from "../../edge/openai/index.ts";
import type { Answer, WireFormat } from "../../edge/pipeline/format.ts";
import { responsesFormat } from "../../edge/responses/format.ts";
import { newOutcome, readStream } from "./client.ts";
import { ENDPOINTS, readAnswer, requestBody, wireProblem, type Endpoint } from "./wire.ts";

const meta = { id: "x-1", created: 1, model: "organism260K" };
const FORMATS: Record<Endpoint, () => WireFormat> = {
  chat: () => chatFormat(meta, { includeUsage: true, topLogprobs: null }),
  responses: () =>
    responsesFormat({ id: "resp_1", messageId: "msg_1", created_at: 1, model: "organism260K", instructions: null, max_output_tokens: null, temperature: null, top_p: null, user: null, topLogprobs: null }),
  completions: () => completionsFormat(meta, { includeUsage: false, logprobs: null }),
};

/** `text` as a body stream in pieces of 1..17 characters (frames split anywhere). */
function pieces(text: string): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  let i = 0;
  let k = 0;
  return new ReadableStream({
    pull(ctrl) {
      if (i >= text.length) return ctrl.close();
      const n = 1 + ((k++ * 7) % 17);
      ctrl.enqueue(enc.encode(text.slice(i, i + n)));
      i += n;
    },
  });
}

async function read(ep: Endpoint, text: string) {
  const o = newOutcome("t", true, ep);
  o.wire = { headers: {}, body: "" };
  let firsts = 0;
  await readStream(pieces(text), ep, o, () => firsts++);
  const problem = wireProblem({ endpoint: ep, status: 200, headers: { "content-type": "text/event-stream", "x-steerguard-route": "unsteered" }, body: o.wire.body });
  return { o, problem, firsts };
}

const answer = (reason: Answer["reason"]): Answer => ({ text: "Hello there", logprobs: [], reason, usage: usage(3, 2) });

describe.each(ENDPOINTS)("%s answers", (ep) => {
  it("a stream read back: text, finish reason, its end, in its format", async () => {
    for (const reason of ["stop", "length", "content_filter"] as const) {
      const w = FORMATS[ep]().stream();
      const { o, problem, firsts } = await read(ep, w.start() + w.delta("Hello", []) + w.delta(" there", []) + w.finish(answer(reason)));
      expect(o).toMatchObject({ end: "done", text: "Hello there", finishReason: reason });
      expect(firsts).toBe(2);
      expect(problem).toBeNull();
    }
  });

  it("an error mid-stream is an error end, with its error, in its format", async () => {
    const w = FORMATS[ep]().stream();
    const { o, problem } = await read(ep, w.start() + w.delta("Hel", []) + w.error(errorBody(502, "the model server failed", { code: "sidecar_error" })));
    expect(o.end).toBe("error-frame");
    expect(o.error).toMatchObject({ message: "the model server failed", code: "sidecar_error" });
    expect(o.text).toBe("Hel");
    expect(problem).toBeNull();
  });

  it("a stream without its end is cut, and the wire check says so", async () => {
    const w = FORMATS[ep]().stream();
    const { o, problem } = await read(ep, w.start() + w.delta("Hello", []));
    expect(o.end).toBe("cut");
    expect(problem).toMatch(/not in its format/);
  });

  it("a whole answer read back, and checked", () => {
    for (const reason of ["stop", "length", "content_filter"] as const) {
      const body = FORMATS[ep]().body(answer(reason));
      expect(readAnswer(ep, body as Record<string, unknown>)).toMatchObject({ text: "Hello there", finish: reason });
      expect(wireProblem({ endpoint: ep, status: 200, headers: { "content-type": "application/json", "x-steerguard-route": "steered" }, body: JSON.stringify(body) })).toBeNull();
    }
  });

  it("request bodies carry the turn in the endpoint's input field", () => {
    const b = requestBody(ep, { model: "m", content: "hi", stream: true, maxTokens: 4, seed: 3 });
    const field = { chat: "messages", responses: "input", completions: "prompt" }[ep];
    expect(JSON.stringify(b[field])).toContain('"hi"');
    expect(b.stream).toBe(true);
    expect(b[ep === "responses" ? "max_output_tokens" : "max_tokens"]).toBe(4);
    expect("seed" in b).toBe(ep !== "responses"); // responses has no seed
  });
});

describe("wireProblem on errors", () => {
  it("passes an OpenAI error body and flags others", () => {
    const w = (status: number, body: string) => wireProblem({ endpoint: "chat", status, headers: { "content-type": "application/json" }, body });
    expect(w(503, JSON.stringify(errorBody(503, "unavailable", { code: "sidecar_unavailable" })))).toBeNull();
    expect(w(503, "Service Unavailable")).toMatch(/not JSON/);
    expect(w(400, JSON.stringify({ error: { message: "x" } }))).toMatch(/OpenAI shape/);
  });

  it("flags a conditional answer whose outcome contradicts its numbers (the fuzzer's routing check)", () => {
    const body = JSON.stringify(FORMATS.chat().body(answer("stop")));
    const headers = { "content-type": "application/json", "x-steerguard-route": "conditional", "x-steerguard-condition": "steer", "x-steerguard-condition-value": "0.1", "x-steerguard-condition-threshold": "0.5" };
    expect(wireProblem({ endpoint: "chat", status: 200, headers, body })).toMatch(/x-steerguard-condition steer/);
  });
});
