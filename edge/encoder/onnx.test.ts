/**
 * OnnxSentenceEncoder (onnx.ts) against SentenceEncoder: the same hashes and
 * embeddings (1e-4), under Node and under Deno. (Both read a text as the same
 * pieces: base.ts; index.test.ts checks the caps.)
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_ENCODER_DIR, SentenceEncoder } from "./index.ts";
import { OnnxSentenceEncoder } from "./onnx.ts";
import { canUseWorker } from "./worker-runner.ts";
import { SECOND_STAGE_READ } from "../risk/second-stage.ts";
import * as pieces from "./pieces.ts";

const LONG = Array.from({ length: 400 }, (_, i) => `w${i}`).join(" ");
const TEXTS = ["How do I kill a Python process?", "", "emoji 😀 and ☃ inside", "A recipe for banana bread. ".repeat(12), LONG, "x"];

let tfjs: SentenceEncoder;
let onnx: OnnxSentenceEncoder;
let reference: Float32Array[];

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Math.max(...Array.from(a, (x, i) => Math.abs(x - b[i]!)));

beforeAll(async () => {
  tfjs = await SentenceEncoder.load();
  onnx = await OnnxSentenceEncoder.load();
  reference = [];
  for (const t of TEXTS) reference.push(await tfjs.embed(t));
}, 120_000);
afterAll(() => onnx?.release());

describe("OnnxSentenceEncoder", () => {
  it("gives tfjs's embeddings to 1e-4, in a batch and alone", async () => {
    const batch = await onnx.embedBatch(TEXTS);
    expect(batch).toHaveLength(TEXTS.length);
    batch.forEach((e, i) => {
      expect(e).toHaveLength(pieces.EMBEDDING_DIM);
      expect(maxAbsDiff(e, reference[i]!)).toBeLessThan(1e-4);
    });
    expect(maxAbsDiff(await onnx.embed(TEXTS[0]!), reference[0]!)).toBeLessThan(1e-4);
    expect(await onnx.embedBatch([])).toEqual([]);
  });

  it("runs concurrent calls one at a time, each with its own result", async () => {
    const out = await Promise.all(TEXTS.map((t) => onnx.embed(t)));
    out.forEach((e, i) => expect(maxAbsDiff(e, reference[i]!)).toBeLessThan(1e-4));
  });

  it("runs on the caller's thread under Node, which has no Web Worker", () => {
    expect(canUseWorker()).toBe(false);
  });

  it("hashes the files read, and refuses files other than those expected", async () => {
    expect(onnx.sha256).toEqual(tfjs.sha256);
    await expect(OnnxSentenceEncoder.load({ expectSha256: { "model.json": "0".repeat(64) } })).rejects.toThrow(/model.json differs/);
  });

  it("loads under Deno with read access to the encoder folder and ffi to onnxruntime-node only, on this thread and in a worker, matches tfjs, and starts a dead or hung worker again", () => {
    const deno = fileURLToPath(new URL("../../node_modules/.bin/deno", import.meta.url));
    const smoke = fileURLToPath(new URL("./onnx-deno-smoke.ts", import.meta.url));
    const ortDir = fileURLToPath(new URL("../../node_modules/onnxruntime-node/", import.meta.url));
    // The worker reads its module graph with read permission: the second stage's list, as the edge grants it.
    const workerModules = SECOND_STAGE_READ.filter((p) => p.startsWith("edge/encoder/") || p.startsWith("node_modules/onnxruntime")).map((p) => fileURLToPath(new URL(`../../${p}`, import.meta.url)));
    const args = ["run", "--no-prompt", `--allow-read=${[fileURLToPath(DEFAULT_ENCODER_DIR), ...workerModules].join(",")}`, `--allow-ffi=${ortDir}`, smoke, ...TEXTS];
    const r = spawnSync(deno, args, { encoding: "utf8", timeout: 120_000, env: { ...process.env, ORT_DISABLE_TELEMETRY: "1" } });
    // Deno reports the crash the smoke asks for (the worker's uncaught error, with its stack), and nothing else.
    const [first, ...stack] = r.stderr.replace(/\x1b\[[0-9;]*m/g, "").trimEnd().split("\n");
    expect(first).toBe('error: Uncaught (in worker "") Error: crash requested');
    expect(stack.every((l) => /^\s/.test(l))).toBe(true);
    const out = JSON.parse(r.stdout) as {
      runtime: string;
      threads: string[];
      embeddings: number[][];
      worker: number[][];
      whileDown: string;
      restarted: number[];
      upAgain: boolean;
      whileHung: string;
      afterHang: number[];
      log: string[];
    };
    expect(out.runtime).toBe("deno");
    expect(out.threads).toEqual(["caller", "worker"]);
    for (const got of [out.embeddings, out.worker]) {
      expect(got).toHaveLength(TEXTS.length);
      got.forEach((e, i) => expect(maxAbsDiff(e, reference[i]!)).toBeLessThan(1e-4));
    }
    // A dead worker fails calls at once (the gate's first stage decides them), then another starts, reading
    // the same files again, and answers as before.
    expect(out.whileDown).toBe("down: encoder worker restarting");
    expect(out.upAgain).toBe(true);
    expect(maxAbsDiff(out.restarted, reference[0]!)).toBeLessThan(1e-4);
    // A worker whose run never answers is given up on after the smoke's 500 ms and replaced the same way (a
    // second death within a minute of the last start: twice the delay).
    expect(out.whileHung).toBe("encoder worker did not answer a run in 500 ms; left to itself (after at least HANG_MS)");
    expect(maxAbsDiff(out.afterHang, reference[0]!)).toBeLessThan(1e-4);
    expect(out.log).toEqual([
      expect.stringMatching(/encoder worker died \(encoder worker failed: .*crash requested\); starting another in 1000 ms/),
      expect.stringMatching(/started again \(restart 1\)/),
      expect.stringMatching(/encoder worker died \(encoder worker did not answer a run in 500 ms; left to itself\); starting another in 2000 ms/),
      expect.stringMatching(/started again \(restart 2\)/),
    ]);
    expect(r.status).toBe(0);
  }, 120_000);
});
