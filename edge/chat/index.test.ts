/** The sidecar request built from a chat request (the pipeline itself is tested through edge/app.test.ts). */
import { describe, expect, it } from "vitest";
import { parseConfig } from "../config/index.ts";
import { decide } from "../routing/index.ts";
import { chatRequestSchema, validateChatBody } from "../validate/index.ts";
import { toGenerateRequest } from "../pipeline/request.ts";
import { chatPipelineRequest } from "./index.ts";

const config = parseConfig({ steering: { profile: "refusal", strength: 1.5 } });
const schema = chatRequestSchema(config.limits);
const parse = (body: unknown) => {
  const r = validateChatBody(schema, body);
  if (!r.ok) throw new Error(r.message);
  return r.value;
};

describe("toGenerateRequest", () => {
  const arm = { name: "a", policy: "always" as const, weight: 1 };
  it("maps messages, sampling and steering", () => {
    const body = parse({
      model: "m",
      messages: [
        { role: "developer", content: "be brief" },
        { role: "user", content: [{ type: "text", text: "a" }, { type: "text", text: "b" }] },
        { role: "assistant", content: null },
      ],
      max_completion_tokens: 7,
      temperature: 0.5,
      top_p: 0.9,
      seed: 42,
      stop: "END",
      logprobs: true,
    });
    const req = toGenerateRequest(chatPipelineRequest(body), "rid", decide(config, "e", arm, 0.9, 0.5), 256);
    expect(req.requestId).toBe("rid");
    expect(req.input).toEqual({
      $case: "conversation",
      value: { messages: [{ role: "system", content: "be brief" }, { role: "user", content: "a\nb" }, { role: "assistant", content: "" }] },
    });
    expect(req.sampling).toMatchObject({ maxTokens: 7, temperature: 0.5, topP: 0.9, seed: 42, stop: ["END"], logprobs: 1 });
    expect(req.steering).toEqual({ profile: "refusal", strength: 1.5, conditional: false });
  });

  it("uses the default max_tokens, and sends no steering when unsteered or the profile is empty", () => {
    const body = parse({ model: "m", messages: [{ role: "user", content: "hi" }] });
    const unsteered = toGenerateRequest(chatPipelineRequest(body), "r", decide(config, "e", { ...arm, policy: "never" }, 0.9, 0.5), 256);
    expect(unsteered.sampling?.maxTokens).toBe(256);
    expect(unsteered.steering).toBeUndefined();
    const noProfile = parseConfig({ steering: { profile: "" } });
    const steered = decide(noProfile, "e", arm, 0.9, 0.5);
    expect(steered.route).toBe("steered");
    expect(toGenerateRequest(chatPipelineRequest(body), "r", steered, 256).steering).toBeUndefined();
  });
});
