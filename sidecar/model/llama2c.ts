/**
 * Loader for llama2.c legacy (version 0) checkpoints, as written by
 * llama2.c's `export.py --version 0` and read by `run.c`.
 *
 * Layout: 7 little-endian int32
 *   dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len
 * (a negative vocab_size means the output classifier is stored separately),
 * then float32 arrays in this order:
 *   token_embedding [vocab, dim]
 *   rms_att [layers, dim]
 *   wq [layers, dim, dim]            (each [out, in])
 *   wk [layers, kv_dim, dim]         (kv_dim = n_kv_heads * head_size)
 *   wv [layers, kv_dim, dim]
 *   wo [layers, dim, dim]
 *   rms_ffn [layers, dim]
 *   w1 [layers, hidden_dim, dim]     (gate)
 *   w2 [layers, dim, hidden_dim]     (down)
 *   w3 [layers, hidden_dim, dim]     (up)
 *   rms_final [dim]
 *   freq_cis_real [seq_len, head_size/2], freq_cis_imag [seq_len, head_size/2]  (unused)
 *   wcls [vocab, dim]                (only when vocab_size was negative)
 *
 * run.c fixes what the header does not say: head_size = dim / n_heads,
 * RoPE theta 10000 over interleaved pairs, RMSNorm eps 1e-5, no biases.
 */
import { closeSync, openSync, readFileSync, readSync } from "node:fs";
import { validateWeights, type LayerWeights, type LlamaWeights } from "./weights.ts";

const HEADER_INTS = 7;
/** Version 1+ files start with the magic "ak42" as a uint32. */
const LLAMA2C_MAGIC = 0x616b3432;

/** The header's seven ints, checked: dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len. */
function readHeader(buf: Buffer, file: string): number[] {
  if (buf.length < HEADER_INTS * 4) throw new Error(`${file}: too short for a llama2.c checkpoint`);
  if (buf.readUInt32LE(0) === LLAMA2C_MAGIC) {
    throw new Error(`${file}: llama2.c checkpoint version ${buf.readInt32LE(4)} (magic "ak42") is not supported; export with --version 0 (legacy)`);
  }
  const h = Array.from({ length: HEADER_INTS }, (_, i) => buf.readInt32LE(i * 4));
  if (h.some((v, i) => i !== 5 && v <= 0) || h[0]! % h[3]! !== 0) {
    throw new Error(`${file}: implausible llama2.c header ${JSON.stringify(h)}`);
  }
  return h;
}

/** The attention heads of a checkpoint, from its header alone. */
export function llama2cHeads(file: string): { nHeads: number; nKvHeads: number; headDim: number } {
  const buf = Buffer.alloc(HEADER_INTS * 4);
  const fd = openSync(file, "r");
  try {
    readSync(fd, buf, 0, buf.length, 0);
  } finally {
    closeSync(fd);
  }
  const [dim, , , nHeads, nKvHeads] = readHeader(buf, file);
  return { nHeads: nHeads!, nKvHeads: nKvHeads!, headDim: dim! / nHeads! };
}

export function loadLlama2c(file: string): LlamaWeights {
  const buf = readFileSync(file);
  const h = readHeader(buf, file);
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, rawVocab, seqLen] = h as [number, number, number, number, number, number, number];
  const shared = rawVocab > 0;
  const vocabSize = Math.abs(rawVocab);
  const headDim = dim / nHeads;
  const kvDim = nKvHeads * headDim;

  // Copy the floats into an aligned array; then hand out consecutive slices.
  const floats = new Float32Array(new Uint8Array(buf.subarray(HEADER_INTS * 4)).buffer, 0, Math.floor((buf.length - HEADER_INTS * 4) / 4));
  let offset = 0;
  const take = (n: number, what: string): Float32Array => {
    if (offset + n > floats.length) throw new Error(`${file}: file ends inside ${what}; header ${JSON.stringify(h)} does not match the file size`);
    const a = floats.subarray(offset, offset + n);
    offset += n;
    return a;
  };
  /** Reads a [layers, ...] block and splits it per layer. */
  const perLayer = (n: number, what: string): Float32Array[] => {
    const all = take(nLayers * n, what);
    return Array.from({ length: nLayers }, (_, l) => all.subarray(l * n, (l + 1) * n));
  };

  const tokenEmbedding = take(vocabSize * dim, "token_embedding");
  const rmsAtt = perLayer(dim, "rms_att");
  const wq = perLayer(dim * dim, "wq");
  const wk = perLayer(kvDim * dim, "wk");
  const wv = perLayer(kvDim * dim, "wv");
  const wo = perLayer(dim * dim, "wo");
  const rmsFfn = perLayer(dim, "rms_ffn");
  const w1 = perLayer(hiddenDim * dim, "w1");
  const w2 = perLayer(dim * hiddenDim, "w2");
  const w3 = perLayer(hiddenDim * dim, "w3");
  const finalNorm = take(dim, "rms_final");
  take(seqLen * (headDim / 2) * 2, "freq_cis_real/imag");
  const lmHead = shared ? tokenEmbedding : take(vocabSize * dim, "wcls");
  if (offset !== floats.length) throw new Error(`${file}: ${floats.length - offset} unexpected trailing floats after the weights`);

  const layers: LayerWeights[] = Array.from({ length: nLayers }, (_, l) => ({
    attnNorm: rmsAtt[l], wq: wq[l], wk: wk[l], wv: wv[l], wo: wo[l],
    ffnNorm: rmsFfn[l], w1: w1[l], w2: w2[l], w3: w3[l],
  }));
  const weights: LlamaWeights = {
    config: {
      vocabSize, dModel: dim, nLayers, nHeads, nKvHeads, headDim, hiddenDim,
      contextLength: seqLen, ropeTheta: 10000, rmsNormEps: 1e-5,
      rotary: "interleaved", tiedEmbeddings: shared, qkvBias: false,
    },
    tokenEmbedding, layers, finalNorm, lmHead,
  };
  validateWeights(weights, file);
  return weights;
}

/** Encodes weights as a llama2.c legacy checkpoint (tests use it to make fixtures). */
export function encodeLlama2c(w: LlamaWeights): Buffer {
  const c = w.config;
  if (c.rotary !== "interleaved" || c.qkvBias || c.headDim * c.nHeads !== c.dModel) {
    throw new Error("llama2.c format needs interleaved rotary, no biases and headDim = dModel / nHeads");
  }
  const header = new Int32Array([c.dModel, c.hiddenDim, c.nLayers, c.nHeads, c.nKvHeads, c.tiedEmbeddings ? c.vocabSize : -c.vocabSize, c.contextLength]);
  // freq_cis tables as run.c's export writes them (values are unused by loaders).
  const half = c.headDim / 2;
  const re = new Float32Array(c.contextLength * half);
  const im = new Float32Array(c.contextLength * half);
  for (let p = 0; p < c.contextLength; p++) {
    for (let i = 0; i < half; i++) {
      const angle = p / c.ropeTheta ** ((2 * i) / c.headDim);
      re[p * half + i] = Math.cos(angle);
      im[p * half + i] = Math.sin(angle);
    }
  }
  const parts: Float32Array[] = [w.tokenEmbedding];
  const keys: (keyof LayerWeights)[] = ["attnNorm", "wq", "wk", "wv", "wo", "ffnNorm", "w1", "w2", "w3"];
  for (const k of keys) for (const l of w.layers) parts.push(l[k] as Float32Array);
  parts.push(w.finalNorm, re, im);
  if (!c.tiedEmbeddings) parts.push(w.lmHead);
  return Buffer.concat([Buffer.from(header.buffer), ...parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength))]);
}
