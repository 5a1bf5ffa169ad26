import { appendFileSync, readdirSync, statSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { EMBEDDING_DIM } from "../../edge/encoder/index.ts";
import { tempDir } from "../../test/support/tmp.ts";
import { EmbeddingCache, type Embedder } from "./embedding-cache.ts";

/** A stand-in encoder: a text's embedding is its length and char codes; counts what it embeds. */
function fakeEncoder(sha = "a"): Embedder & { embedded: string[] } {
  const embedded: string[] = [];
  return {
    sha256: { "model.json": sha },
    embedded,
    embedBatch: async (texts: readonly string[]) => {
      embedded.push(...texts);
      return texts.map((t) => Float32Array.from({ length: EMBEDDING_DIM }, (_, i) => (i === 0 ? t.length : (t.charCodeAt(i - 1) || 0) / 100)));
    },
  };
}

describe("embedding cache", () => {
  it("embeds each distinct text once, keeps order, and reads its file back in a new run", async () => {
    const dir = tempDir("sg-emb-");
    const first = fakeEncoder();
    const texts = ["bb", "a", "bb", "ccc"];
    const vecs = await new EmbeddingCache(first, dir).embedAll(texts, { batch: 2, quiet: true });
    expect(first.embedded.sort()).toEqual(["a", "bb", "ccc"]);
    expect(vecs.map((v) => v[0])).toEqual([2, 1, 2, 3]);

    const second = fakeEncoder();
    const again = new EmbeddingCache(second, dir);
    expect(again.size).toBe(3);
    const back = await again.embedAll(["ccc", "dddd"], { quiet: true });
    expect(second.embedded).toEqual(["dddd"]);
    expect(Array.from(back[0]!)).toEqual(Array.from(vecs[3]!));
  });

  it("keeps another encoder's embeddings in another file, and ignores a torn last record", async () => {
    const dir = tempDir("sg-emb-");
    await new EmbeddingCache(fakeEncoder("a"), dir).embedAll(["x", "y"], { quiet: true });
    const other = fakeEncoder("b");
    expect(new EmbeddingCache(other, dir).size).toBe(0);
    const [file] = readdirSync(dir).map((f) => `${dir}/${f}`).filter((f) => statSync(f).size > 0);
    appendFileSync(file!, Buffer.alloc(100)); // an interrupted write
    expect(new EmbeddingCache(fakeEncoder("a"), dir).size).toBe(2);
  });
});
