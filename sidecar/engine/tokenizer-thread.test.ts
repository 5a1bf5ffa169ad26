/**
 * The tokenizer thread against the tokenizer on the caller's thread: the same
 * ids for raw prompts and conversations, on a Hugging Face tokenizer
 * (stories260K-hf) and a llama2.c one (organism260K); refusals before the
 * thread; and generation through an engine that tokenizes on the thread,
 * through a thread that died.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GenerateRequest } from "../../proto/gen/steerguard/v1/sidecar.ts";
import { builtModel } from "../../test/support/models.ts";
import { readManifest } from "../model/manifest.ts";
import { SidecarError } from "../server/backend.ts";
import { encodeChat } from "../tokenizer/chat.ts";
import { loadModelTokenizer } from "../tokenizer/load.ts";
import { PromptBound } from "../tokenizer/prompt-bound.ts";
import { Engine } from "./engine.ts";
import { promptText, type PromptEncoding, type PromptInput, type PromptText } from "./prompt-ids.ts";
import { ThreadGoneError, TokenizerThread } from "./tokenizer-thread.ts";

const STORY = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends. ";

const prompt = (value: string): PromptInput => ({ $case: "prompt", value });
/** A raw prompt as prompt-ids.ts hands it to the thread. */
const raw = (value: string): PromptText => ({ parts: [value] });
const chat = (...contents: string[]): PromptInput => ({
  $case: "conversation",
  value: { messages: contents.map((content, i) => ({ role: i % 2 ? "assistant" : "user", content })) },
});

/** The inputs compared: short and long, raw and chat, and ones refused before any tokenizing. */
const INPUTS: PromptInput[] = [
  prompt("Once upon a time"),
  prompt(STORY.repeat(3)),
  prompt("<s> looks like BOS but is text ▁▁ 😀 中文"),
  chat("Tell me a story about a dog."),
  chat(STORY, "Lily went home.", "What happened next?"),
  prompt(STORY.repeat(400)), // too long for a 512-token context: refused before tokenizing
  chat(),
  { $case: "conversation", value: { messages: [{ role: "user", content: STORY.repeat(400) }] } },
  undefined,
];

describe.each(["stories260K-hf", "organism260K"] as const)("the tokenizer thread on %s", (name) => {
  let dir: string;
  let encoding: PromptEncoding;
  let thread: TokenizerThread;
  beforeAll(async () => {
    dir = await builtModel(name);
    const manifest = readManifest(dir);
    const tokenizer = await loadModelTokenizer(dir, manifest);
    encoding = { tokenizer, chatTemplate: manifest.chatTemplate, bound: new PromptBound(tokenizer, manifest.dims.contextLength), modelId: manifest.id };
    thread = new TokenizerThread({ modelDir: dir, manifest }, { minChars: 1 });
  }, 120_000);
  afterAll(() => thread.close());

  it("gives the ids the tokenizer gives on the caller's thread; refusals never reach it", async () => {
    const template = encoding.chatTemplate!;
    expect(template).toBeTruthy();
    const { tokenizer } = encoding;
    await thread.started();
    let refused = 0;
    for (const input of INPUTS) {
      const what = String(JSON.stringify(input)).slice(0, 80);
      let text: PromptText;
      try {
        text = promptText(encoding, input);
      } catch (err) {
        expect((err as SidecarError).code, what).toBe(3); // INVALID_ARGUMENT, from the caller's thread
        refused++;
        continue;
      }
      // The reference: the tokenizer's own entry points, not the parts promptText made.
      const here = input?.$case === "prompt"
        ? tokenizer.encode(input.value)
        : encodeChat(tokenizer, template, input!.value.messages, { addGenerationPrompt: true });
      expect(await thread.encode(text), what).toEqual(here);
    }
    expect(refused).toBe(4);
    expect(thread.offloaded).toBe(INPUTS.length - refused);
  });
});

describe("TokenizerThread's lifecycle", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await builtModel("organism260K");
  });

  it("leaves short prompts to the caller, and the first long one while it starts", async () => {
    const thread = new TokenizerThread({ modelDir: dir, manifest: readManifest(dir) }, { minChars: 100 });
    try {
      expect(thread.encode(raw("short"))).toBeUndefined();
      expect(thread.running).toBe(false);
      expect(thread.encode(raw(STORY))).toBeUndefined(); // starts the thread
      expect(thread.running).toBe(true);
      await thread.started();
      expect(await thread.encode(raw(STORY))).toEqual(expect.arrayContaining([1]));
      expect(thread.offloaded).toBe(1);
    } finally {
      await thread.close();
    }
    expect(thread.encode(raw(STORY))).toBeUndefined(); // closed: never again
  });

  it("fails a prompt it cannot encode with ThreadGoneError (the caller encodes it, and gets its own error), and goes on", async () => {
    const thread = new TokenizerThread({ modelDir: dir, manifest: readManifest(dir) }, { minChars: 1 });
    try {
      await thread.started();
      await expect(thread.encode({ parts: [STORY, 1_000_000] })!).rejects.toThrow(/tokenizer thread failed on a prompt: .*1000000/);
      expect((await thread.encode(raw(STORY)))!.length).toBeGreaterThan(10);
    } finally {
      await thread.close();
    }
  });

  it("fails the prompts it holds when it closes, with ThreadGoneError", async () => {
    const thread = new TokenizerThread({ modelDir: dir, manifest: readManifest(dir) }, { minChars: 1 });
    await thread.started();
    const held = expect(thread.encode(raw(STORY))!).rejects.toBeInstanceOf(ThreadGoneError);
    await thread.close();
    await held;
  });

  it("after a crash, leaves prompts to the caller until it has started again", async () => {
    const logged: string[] = [];
    const thread = new TokenizerThread({ modelDir: dir, manifest: readManifest(dir) }, { minChars: 1, restartDelayMs: 0, log: (l) => logged.push(l) });
    try {
      await thread.started();
      thread.crash();
      await expect.poll(() => thread.encode(raw("x")), { timeout: 10_000 }).toBeUndefined();
      expect(logged.join("\n")).toMatch(/tokenizer thread (failed|stopped)/);
      await thread.started();
      expect((await thread.encode(raw(STORY)))!.length).toBeGreaterThan(10);
    } finally {
      await thread.close();
    }
  });

  it("reports a thread that cannot load once, and leaves every prompt to the caller", async () => {
    const logged: string[] = [];
    const manifest = { ...readManifest(dir), tokenizer: { ...readManifest(dir).tokenizer, files: ["missing.bin"] } };
    const thread = new TokenizerThread({ modelDir: dir, manifest }, { minChars: 1, log: (l) => logged.push(l) });
    await expect(thread.started()).rejects.toThrow("did not start");
    expect(logged.join("\n")).toContain("could not load");
    expect(thread.encode(raw(STORY))).toBeUndefined(); // not again within the restart delay
    await thread.close();
  });
});

describe("an engine that tokenizes long prompts on the thread", () => {
  let dir: string;
  let onThread: Engine;
  let here: Engine;
  beforeAll(async () => {
    dir = await builtModel("stories260K-hf");
    onThread = await Engine.load(dir, { tokenizerThreadChars: 1 });
    here = await Engine.load(dir, { tokenizerThreadChars: 0 });
  }, 120_000);
  afterAll(async () => {
    await onThread.close();
    await here.close();
  });

  const request = (input: PromptInput) => GenerateRequest.fromPartial({ requestId: "t", input, sampling: { temperature: 0, maxTokens: 12 } });
  async function tokens(engine: Engine, input: PromptInput): Promise<number[]> {
    const out: number[] = [];
    for await (const c of engine.generate(request(input), new AbortController().signal)) out.push(...c.tokenIds);
    return out;
  }

  it("refuses a too-long prompt at once, without starting the thread", async () => {
    const thread = onThread.tokenizerThread!;
    for (const input of [prompt(STORY.repeat(400)), chat(STORY.repeat(400))]) {
      await expect(tokens(onThread, input)).rejects.toMatchObject({ code: 3, message: expect.stringContaining("prompt is too long") });
    }
    expect(thread.running).toBe(false);
    expect(thread.offloaded).toBe(0);
  });

  it("generates what the engine gives with no thread, and uses the thread", async () => {
    expect(here.tokenizerThread).toBeUndefined();
    await onThread.tokenizerThread!.started();
    for (const input of [prompt(STORY), chat(STORY, "Lily went home.", "And then?")]) {
      expect(await tokens(onThread, input)).toEqual(await tokens(here, input));
    }
    expect(onThread.tokenizerThread!.offloaded).toBe(2);
  });

  it("tokenizes on its own thread a prompt the thread held when it went, and those after", async () => {
    const thread = onThread.tokenizerThread!;
    const want = await tokens(here, prompt(STORY));
    const offloaded = thread.offloaded;
    const held = tokens(onThread, prompt(STORY)); // waits on the thread from here
    expect(thread.offloaded).toBe(offloaded + 1);
    await thread.close(); // its pending prompts fail with ThreadGoneError, which the engine takes as "encode here"
    expect(await held).toEqual(want);
    expect(await tokens(onThread, prompt(STORY))).toEqual(want);
    expect(thread.offloaded).toBe(offloaded + 1);
  });
});

// The shared inputs' too-long prompt must be too long for every model here.
it("uses a too-long prompt that the bound refuses before tokenizing", async () => {
  const dir = await builtModel("organism260K");
  const manifest = readManifest(dir);
  const tokenizer = await loadModelTokenizer(dir, manifest);
  expect(() => new PromptBound(tokenizer, manifest.dims.contextLength).check(STORY.repeat(400))).toThrow("prompt is too long");
  expect(JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")).dims.contextLength).toBeLessThan(4096);
});
