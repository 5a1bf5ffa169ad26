import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { main } from "./build-model.ts";
import { captureOutput } from "../test/support/capture.ts";
import { tempDir } from "../test/support/tmp.ts";

const STORIES = join(import.meta.dirname, "../../shared/models/stories260K");

describe("build-model CLI", () => {
  afterEach(() => vi.restoreAllMocks());

  it("prints help", async () => {
    const { out } = captureOutput();
    expect(await main(["--help"])).toBe(0);
    expect(out.join("")).toContain("--from SRC");
  });

  it("rejects missing and unknown flags with exit code 2", async () => {
    const { err } = captureOutput();
    expect(await main(["--from", STORIES])).toBe(2);
    expect(await main(["--bogus"])).toBe(2);
    expect(err.join("")).toContain("--from and --out are required");
  });

  it("builds a model and prints a one-line summary", async () => {
    const out = tempDir("sg-cli-");
    const cap = captureOutput();
    expect(await main(["--from", STORIES, "--out", out, "--id", "s260", "--quiet"])).toBe(0);
    expect(cap.out.join("")).toMatch(/^built s260 \(llama2c, 0\.26M params, 5 layers.*\n$/);
    expect(existsSync(join(out, "model.onnx"))).toBe(true);
    expect(existsSync(join(out, "manifest.json"))).toBe(true);
  });

  it("builds at a chosen weight precision, prints it and the peak RSS; bad precisions and block sizes exit 2", async () => {
    const out = tempDir("sg-cli-");
    const cap = captureOutput();
    expect(await main(["--from", STORIES, "--out", out, "--weights", "int4", "--block-size", "16", "--quiet"])).toBe(0);
    expect(cap.out.join("")).toMatch(/int4 weights: [\d.]+ MB\) -> .* in [\d.]+s; peak RSS \d+ MB\n$/);
    expect(JSON.parse(readFileSync(join(out, "manifest.json"), "utf8")).graph.precision).toEqual({ weights: "int4", blockSize: 16 });
    expect(await main(["--from", STORIES, "--out", out, "--weights", "int3"])).toBe(2);
    expect(await main(["--from", STORIES, "--out", out, "--weights", "int8", "--block-size", "48"])).toBe(2);
    expect(cap.err.join("")).toMatch(/--weights must be one of fp32, fp16, int8, int4, got "int3"/);
    expect(cap.err.join("")).toMatch(/--block-size must be a power of two >= 16, got "48"/);
  });

  it("builds with fused attention (--attention gqa) and records it; other values exit 2", async () => {
    const out = tempDir("sg-cli-");
    const cap = captureOutput();
    expect(await main(["--from", STORIES, "--out", out, "--attention", "gqa", "--quiet"])).toBe(0);
    expect(cap.out.join("")).toMatch(/fp32 weights, fused attention \(gqa\): [\d.]+ MB\)/);
    expect(JSON.parse(readFileSync(join(out, "manifest.json"), "utf8")).graph.attention).toBe("gqa");
    expect(await main(["--from", STORIES, "--out", out, "--attention", "flash"])).toBe(2);
    expect(cap.err.join("")).toMatch(/--attention must be one of plain, gqa, got "flash"/);
  });

  it("reports source errors on stderr with exit code 1", async () => {
    const { err } = captureOutput();
    expect(await main(["--from", "/nonexistent", "--out", tempDir("sg-cli-")])).toBe(1);
    expect(err.join("")).toMatch(/build-model: .*not found/);
  });

  it("builds a Gemma 2 checkpoint and names its family; an unsupported model_type names the field and value", async () => {
    const gemma2 = join(import.meta.dirname, "../../shared/models/archref/gemma2");
    const cap = captureOutput();
    expect(await main(["--from", gemma2, "--out", tempDir("sg-cli-"), "--quiet"])).toBe(0);
    expect(cap.out.join("")).toMatch(/^built gemma2 \(hf\/gemma2, .*4 layers, d_model 64, heads 4\/2 kv/);
    const bad = tempDir("sg-cli-");
    for (const f of ["model.safetensors", "tokenizer.json", "tokenizer_config.json"]) copyFileSync(join(gemma2, f), join(bad, f));
    writeFileSync(join(bad, "config.json"), JSON.stringify({ ...JSON.parse(readFileSync(join(gemma2, "config.json"), "utf8")), model_type: "gemma3_text" }));
    expect(await main(["--from", bad, "--out", tempDir("sg-cli-")])).toBe(1);
    expect(cap.err.join("")).toMatch(/config\.json: field "model_type" is "gemma3_text"; supported: llama, mistral, qwen2, phi3, gemma, gemma2/);
  });

  it("runs as a script through tsx", () => {
    const help = execFileSync(process.execPath, ["--import", "tsx", join(import.meta.dirname, "build-model.ts"), "--help"], { encoding: "utf8" });
    expect(help).toContain("Usage: npm run build-model");
  });
});
