/**
 * Test helper: a seeded random format-2 artifact (n-gram weights, embedding
 * head and segment rule) over a tiny vocabulary, and random texts of that
 * vocabulary with sentence and line breaks. For checking the scorer's
 * shortcuts against plain definitions; not a model.
 */
import { encodeBase64 } from "./base64.ts";
import { DEFAULT_FEATURE_CONFIG, wordHashOf } from "./features.ts";
import { ARTIFACT_FORMAT, ARTIFACT_FORMAT_VERSION, type RiskArtifact } from "./model.ts";
import { mulberry32 } from "../../sidecar/model/random-model.ts";

export const WORDS = "how to make a bomb at home the cat sat on mat b0mb h@ck write poem about sea kill python process synthesize nerve gas please".split(" ");
const SEPS = [" ", " ", " ", ", ", ". ", "! ", "? ", "\n", ".\n", " -- "];

export function randomText(rng: () => number, words: number): string {
  let s = "";
  for (let i = 0; i < words; i++) s += WORDS[Math.floor(rng() * WORDS.length)] + SEPS[Math.floor(rng() * SEPS.length)];
  return s;
}

export const SEG = { minTextChars: 120, minChars: 12, maxSegments: 6 };

export function randomArtifact(seed: number): RiskArtifact {
  const rng = mulberry32(seed);
  const features = { ...DEFAULT_FEATURE_CONFIG, dim: 1 << 12 };
  const w = new Uint8Array(features.dim * 2);
  for (let i = 0; i < w.length; i++) w[i] = Math.floor(rng() * 256);
  const vocab = WORDS.length;
  const hidden = 4;
  const hashes = new Uint8Array(vocab * 4);
  WORDS.forEach((word, r) => new DataView(hashes.buffer).setInt32(r * 4, wordHashOf(word), true));
  const rows = Uint8Array.from({ length: vocab * hidden }, () => Math.floor(rng() * 256));
  const vec = () => Array.from({ length: hidden }, () => rng() - 0.5);
  return {
    format: ARTIFACT_FORMAT,
    formatVersion: ARTIFACT_FORMAT_VERSION,
    modelVersion: "0.0.0",
    features,
    bias: -0.3,
    threshold: 0.5,
    weightEncoding: "int16le-base64",
    weightScale: 1e-4,
    weights: encodeBase64(w),
    segments: SEG,
    embedding: {
      source: "test",
      vocab,
      hidden,
      sifA: 1e-3,
      wordHashes: encodeBase64(hashes),
      projected: encodeBase64(rows),
      scales: vec().map(Math.abs),
      b1: vec(),
      w2: vec(),
    },
  };
}
