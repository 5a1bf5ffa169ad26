import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { encodeLlama2c, loadLlama2c } from "./llama2c.ts";
import { randomLlama } from "./random-model.ts";
import { tempDir } from "../../test/support/tmp.ts";

export const STORIES260K = join(import.meta.dirname, "../../../shared/models/stories260K/stories260K.bin");

describe("llama2.c loader", () => {
  it("reads stories260K's header and weights", () => {
    const w = loadLlama2c(STORIES260K);
    expect(w.config).toMatchObject({
      dModel: 64, hiddenDim: 172, nLayers: 5, nHeads: 8, nKvHeads: 4, headDim: 8, vocabSize: 512,
      contextLength: 512, rotary: "interleaved", tiedEmbeddings: true, qkvBias: false,
    });
    expect(w.lmHead).toBe(w.tokenEmbedding);
  });

  it("round-trips shared and unshared classifiers", () => {
    for (const tiedEmbeddings of [true, false]) {
      const w = randomLlama({ rotary: "interleaved", tiedEmbeddings }, 5);
      const file = join(tempDir("sg-l2c-"), "m.bin");
      writeFileSync(file, encodeLlama2c(w));
      const back = loadLlama2c(file);
      expect(back.config).toEqual(w.config);
      expect(Array.from(back.lmHead)).toEqual(Array.from(w.lmHead));
      expect(Array.from(back.layers[1].w3)).toEqual(Array.from(w.layers[1].w3));
      expect(back.lmHead === back.tokenEmbedding).toBe(tiedEmbeddings);
    }
  });

  it("rejects truncated files and version 1+ checkpoints clearly", () => {
    const dir = tempDir("sg-l2c-");
    const buf = encodeLlama2c(randomLlama({ rotary: "interleaved" }, 5));
    writeFileSync(join(dir, "short.bin"), buf.subarray(0, buf.length - 100));
    expect(() => loadLlama2c(join(dir, "short.bin"))).toThrow(/short\.bin: file ends inside/);
    const v1 = Buffer.alloc(256);
    v1.writeUInt32LE(0x616b3432, 0);
    v1.writeInt32LE(1, 4);
    writeFileSync(join(dir, "v1.bin"), v1);
    expect(() => loadLlama2c(join(dir, "v1.bin"))).toThrow(/version 1 .*not supported/);
  });
});
