/**
 * Seeded random Llama weights for tests and benchmarks (no checkpoint needed).
 */
import { validateWeights, type LlamaConfig, type LlamaWeights } from "./weights.ts";

/** mulberry32: a tiny, well-known 32-bit seeded PRNG returning floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal samples via Box-Muller (each pair of uniforms gives two normals). */
export function gaussian(rand: () => number): () => number {
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    const r = Math.sqrt(-2 * Math.log(1 - rand()));
    const theta = 2 * Math.PI * rand();
    spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  };
}

export const TINY_CONFIG: LlamaConfig = {
  vocabSize: 50, dModel: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 8, hiddenDim: 48,
  contextLength: 64, ropeTheta: 10000, rmsNormEps: 1e-5, rotary: "half", tiedEmbeddings: false, qkvBias: false,
};

/**
 * Random weights: linear layers ~ N(0, 1/in) so activations keep unit scale,
 * norm gains near 1, biases small. Same seed, same weights.
 */
export function randomLlama(overrides: Partial<LlamaConfig> = {}, seed = 1): LlamaWeights {
  const c: LlamaConfig = { ...TINY_CONFIG, ...overrides };
  const normal = gaussian(mulberry32(seed));
  const arr = (n: number, scale: number, mean = 0) => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = mean + scale * normal();
    return a;
  };
  const lin = (out: number, inp: number) => arr(out * inp, 1 / Math.sqrt(inp));
  const q = c.nHeads * c.headDim;
  const kv = c.nKvHeads * c.headDim;
  const tokenEmbedding = arr(c.vocabSize * c.dModel, 1);
  const layers = Array.from({ length: c.nLayers }, () => ({
    attnNorm: arr(c.dModel, 0.1, 1),
    wq: lin(q, c.dModel), wk: lin(kv, c.dModel), wv: lin(kv, c.dModel), wo: lin(c.dModel, q),
    ...(c.qkvBias ? { bq: arr(q, 0.2), bk: arr(kv, 0.2), bv: arr(kv, 0.2) } : {}),
    ffnNorm: arr(c.dModel, 0.1, 1),
    ...(c.sandwichNorms ? { postAttnNorm: arr(c.dModel, 0.1, 1), postFfnNorm: arr(c.dModel, 0.1, 1) } : {}),
    w1: lin(c.hiddenDim, c.dModel), w2: lin(c.dModel, c.hiddenDim), w3: lin(c.hiddenDim, c.dModel),
  }));
  const finalNorm = arr(c.dModel, 0.1, 1);
  const lmHead = c.tiedEmbeddings ? tokenEmbedding : lin(c.vocabSize, c.dModel);
  const w: LlamaWeights = { config: c, tokenEmbedding, layers, finalNorm, lmHead };
  validateWeights(w, "randomLlama");
  return w;
}
