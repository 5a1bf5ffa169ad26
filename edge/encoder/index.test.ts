import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { cosine, DEFAULT_ENCODER_DIR, EMBEDDING_DIM, HEAD_CHARS, MAX_TOKENS, SentenceEncoder, useBackend, WASM_DIR } from "./index.ts";

const TEXTS = ["How do I kill a Python process?", "How can I stop a running Python program?", "A recipe for banana bread."];

let encoder: SentenceEncoder;
let wasm: Float32Array[];
beforeAll(async () => {
  encoder = await SentenceEncoder.load(); // once per file: ~30 MB read and hashed
  wasm = await encoder.embedBatch(TEXTS);
}, 60_000);

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Math.max(...Array.from(a, (x, i) => Math.abs(x - b[i]!)));

describe("sentence encoder", () => {
  it("loads from the package on disk and gives unit-norm 512-d embeddings", () => {
    expect(Object.keys(encoder.sha256)).toEqual(expect.arrayContaining(["model.json", "vocab.json", "group1-shard1of7", "group1-shard7of7"]));
    for (const e of wasm) {
      expect(e).toHaveLength(EMBEDDING_DIM);
      expect(Math.hypot(...e)).toBeCloseTo(1, 4);
    }
  });

  it("puts a paraphrase nearer than an unrelated text", () => {
    expect(cosine(wasm[0]!, wasm[1]!)).toBeGreaterThan(0.6);
    expect(cosine(wasm[0]!, wasm[1]!) - cosine(wasm[0]!, wasm[2]!)).toBeGreaterThan(0.3);
  });

  it("gives a text the same embedding alone and in a padded batch", async () => {
    expect(maxAbsDiff(await encoder.embed(TEXTS[0]!), wasm[0]!)).toBeLessThan(1e-5);
  });

  it("reads at most the first and last MAX_TOKENS / 2 pieces", () => {
    const long = Array.from({ length: 400 }, (_, i) => `w${i}`).join(" ");
    const ids = encoder.tokens(long);
    expect(ids).toHaveLength(MAX_TOKENS);
    const all = encoder.tokenizer.encode(long.slice(0, HEAD_CHARS));
    expect(ids.slice(0, MAX_TOKENS / 2)).toEqual(all.slice(0, MAX_TOKENS / 2));
    expect(ids.slice(MAX_TOKENS / 2)).toEqual(encoder.tokenizer.encode(long.slice(-HEAD_CHARS)).slice(-MAX_TOKENS / 2));
    expect(encoder.tokens("a\n\n\t b  ")).toEqual(encoder.tokenizer.encode("a b"));
    expect(encoder.tokens("")).toEqual([0]);
  });

  it("loads under Deno with read access to the two package folders only, and matches Node", () => {
    const deno = fileURLToPath(new URL("../../node_modules/.bin/deno", import.meta.url));
    const smoke = fileURLToPath(new URL("./deno-smoke.ts", import.meta.url));
    const read = [DEFAULT_ENCODER_DIR, WASM_DIR].map((u) => fileURLToPath(u)).join(",");
    const r = spawnSync(deno, ["run", "--no-prompt", `--allow-read=${read}`, smoke, ...TEXTS], { encoding: "utf8", timeout: 120_000 });
    expect(r.stderr).toBe("");
    const out = JSON.parse(r.stdout) as { runtime: string; backend: string; embeddings: number[][] };
    expect(out).toMatchObject({ runtime: "deno", backend: "wasm" });
    out.embeddings.forEach((e, i) => expect(maxAbsDiff(e, wasm[i]!)).toBeLessThan(1e-5));
    expect(r.status).toBe(0);
  }, 120_000);

  // Last: it moves tfjs to the cpu backend (plain JavaScript kernels, an independent path from the wasm ones).
  it("matches the tfjs cpu backend to 1e-4", async () => {
    await useBackend("cpu");
    expect(tf.getBackend()).toBe("cpu");
    const cpu = await encoder.embedBatch(TEXTS);
    cpu.forEach((e, i) => expect(maxAbsDiff(e, wasm[i]!)).toBeLessThan(1e-4));
    await useBackend("wasm");
  }, 60_000);
});
