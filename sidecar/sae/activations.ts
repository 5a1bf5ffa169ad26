/**
 * Residual-stream activations for SAE training: a model built with residual
 * outputs (`/model/layers.L/resid_post` as graph outputs), its tokenizer and
 * chat template, token sequences from texts (plain or chat-formatted) or
 * sampled from the model itself, and one batched onnxruntime pass per group
 * of sequences that keeps the layer-L vectors of every real position.
 *
 * Sequences are right-padded within a batch with the attention mask left at
 * 1: attention is causal, so padding after a position never changes it, and
 * padded positions are simply not kept.
 */
import * as ort from "../onnxruntime.ts";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { buildModel, isBuildCurrent } from "../model/build.ts";
import { ATTENTION_MASK, INPUT_IDS, LOGITS, POSITION_IDS, pastKey, pastValue, presentKey, presentValue, residPost } from "../model/graph/names.ts";
import { MANIFEST_FILE, readManifest, type Manifest } from "../model/manifest.ts";
import { DEFAULT_CACHE_DIR } from "../model-source.ts";
import { encodeChat } from "../tokenizer/chat.ts";
import { loadModelTokenizer } from "../tokenizer/load.ts";
import type { Tokenizer } from "../tokenizer/types.ts";
import { mulberry32 } from "./train.ts";

/**
 * A built model directory whose graph exposes the residual stream: `path`
 * itself when it is such a build, else a build (cached under
 * .cache/models/NAME-resid, rebuilt when the source changes) of `path` (a
 * checkpoint) or of the source a built directory at `path` was made from.
 */
export async function residualModelDir(path: string, opts: { cacheDir?: string; log?: (m: string) => void } = {}): Promise<string> {
  const abs = resolve(path);
  let from = abs;
  if (existsSync(join(abs, MANIFEST_FILE))) {
    const m = readManifest(abs);
    if (m.graph.residualOutputs) return abs;
    from = m.source.path;
    if (!existsSync(from)) throw new Error(`${join(abs, MANIFEST_FILE)}: built without residual outputs, and its source ${from} is gone; rebuild it with --residual-outputs`);
  }
  const name = from.split("/").filter(Boolean).pop()!.replace(/\.bin$/, "");
  const out = join(opts.cacheDir ?? DEFAULT_CACHE_DIR, `${name}-resid`);
  if ((await isBuildCurrent(from, out)) && readManifest(out).graph.residualOutputs) return out;
  opts.log?.(`building ${from} with residual outputs into ${out}`);
  const built = await buildModel({ from, out, id: name, residualOutputs: true });
  opts.log?.(built.summary);
  return out;
}

export interface ResidualModelOptions {
  /** onnxruntime intra-op threads (default 1: the machine is shared). */
  threads?: number;
}

/** A model with residual outputs, its tokenizer and chat template. */
export class ResidualModel {
  private constructor(
    readonly dir: string,
    readonly manifest: Manifest,
    readonly tokenizer: Tokenizer,
    private readonly session: ort.InferenceSession,
  ) {}

  static async load(dir: string, opts: ResidualModelOptions = {}): Promise<ResidualModel> {
    const manifest = readManifest(dir);
    if (!manifest.graph.residualOutputs) throw new Error(`${join(dir, MANIFEST_FILE)}: graph.residualOutputs is false; build the model with --residual-outputs`);
    const tokenizer = await loadModelTokenizer(dir, manifest);
    const session = await ort.InferenceSession.create(join(dir, manifest.graph.file), {
      graphOptimizationLevel: "all", executionProviders: ["cpu"], intraOpNumThreads: opts.threads ?? 1, interOpNumThreads: 1,
    });
    return new ResidualModel(dir, manifest, tokenizer, session);
  }

  get dModel(): number {
    return this.manifest.dims.dModel;
  }

  /** Token ids of a plain text (BOS as the tokenizer adds it). */
  encodePlain(text: string): number[] {
    return this.tokenizer.encode(text);
  }

  /** Token ids of one user turn in the model's chat template, with the generation prompt. */
  encodeChatPrompt(text: string): number[] {
    const template = this.manifest.chatTemplate;
    if (!template) throw new Error(`${join(this.dir, MANIFEST_FILE)}: model ${this.manifest.id} has no chat template (needed for --chat)`);
    return encodeChat(this.tokenizer, template, [{ role: "user", content: text }], { addGenerationPrompt: true });
  }

  private emptyPast(batch: number): Record<string, ort.Tensor> {
    const { nLayers, nKvHeads, headDim } = this.manifest.dims;
    const feeds: Record<string, ort.Tensor> = {};
    for (let l = 0; l < nLayers; l++) {
      feeds[pastKey(l)] = new ort.Tensor("float32", new Float32Array(0), [batch, nKvHeads, 0, headDim]);
      feeds[pastValue(l)] = new ort.Tensor("float32", new Float32Array(0), [batch, nKvHeads, 0, headDim]);
    }
    return feeds;
  }

  /**
   * Samples `count` sequences from BOS at `temperature` (seeded), each at most
   * `maxTokens` long including BOS, ending before the first EOS/BOS the model
   * emits. Rows of a batch advance together with the KV cache.
   */
  async sample(count: number, opts: { maxTokens: number; temperature?: number; seed?: number; batch?: number; onBatch?: (done: number) => void }): Promise<number[][]> {
    const bos = this.tokenizer.bosId;
    if (bos < 0) throw new Error(`model ${this.manifest.id}: no BOS token to sample from`);
    const stops = new Set([...this.manifest.tokenizer.eosIds, bos]);
    if (this.manifest.tokenizer.eosId !== null) stops.add(this.manifest.tokenizer.eosId);
    const temperature = opts.temperature ?? 0.8;
    const rand = mulberry32(opts.seed ?? 0);
    const V = this.manifest.dims.vocabSize;
    const { nLayers } = this.manifest.dims;
    const out: number[][] = [];
    const probs = new Float64Array(V);
    const maxB = opts.batch ?? 64;
    while (out.length < count) {
      const B = Math.min(maxB, count - out.length);
      const seqs = Array.from({ length: B }, () => [bos]);
      const done = new Array<boolean>(B).fill(false);
      let feeds: Record<string, ort.Tensor> = this.emptyPast(B);
      let next = new BigInt64Array(B).fill(BigInt(bos));
      for (let pos = 0; pos < opts.maxTokens - 1 && done.some((x) => !x); pos++) {
        feeds[INPUT_IDS] = new ort.Tensor("int64", next, [B, 1]);
        feeds[POSITION_IDS] = new ort.Tensor("int64", new BigInt64Array(B).fill(BigInt(pos)), [B, 1]);
        feeds[ATTENTION_MASK] = new ort.Tensor("int64", new BigInt64Array(B * (pos + 1)).fill(1n), [B, pos + 1]);
        const res = await this.session.run(feeds, [LOGITS, ...Array.from({ length: nLayers }, (_, l) => [presentKey(l), presentValue(l)]).flat()]);
        const logits = res[LOGITS]!.data as Float32Array;
        next = new BigInt64Array(B);
        for (let b = 0; b < B; b++) {
          // draw from softmax(logits / T) with one uniform per row per step (so rows are independent of batch order)
          const o = b * V;
          let max = -Infinity;
          for (let v = 0; v < V; v++) if (logits[o + v] > max) max = logits[o + v];
          let total = 0;
          for (let v = 0; v < V; v++) total += probs[v] = Math.exp((logits[o + v] - max) / temperature);
          const target = rand() * total;
          let tok = V - 1;
          let acc = 0;
          for (let v = 0; v < V; v++) {
            acc += probs[v];
            if (acc > target) {
              tok = v;
              break;
            }
          }
          next[b] = BigInt(tok);
          if (!done[b]) {
            if (stops.has(tok)) done[b] = true;
            else seqs[b].push(tok);
          }
        }
        const nextFeeds: Record<string, ort.Tensor> = {};
        for (let l = 0; l < nLayers; l++) {
          nextFeeds[pastKey(l)] = res[presentKey(l)]!;
          nextFeeds[pastValue(l)] = res[presentValue(l)]!;
        }
        feeds = nextFeeds;
      }
      out.push(...seqs);
      opts.onBatch?.(out.length);
    }
    return out;
  }

  /**
   * Residual vectors at the output of block `layer` for every position of
   * every sequence (except position 0 when `skipFirst`), in sequence order:
   * [total, dModel]. Sequences are grouped by length into batches of at most
   * `batchTokens` padded tokens.
   */
  async collect(seqs: number[][], layer: number, opts: { skipFirst?: boolean; batchTokens?: number; onProgress?: (tokens: number) => void } = {}): Promise<Float32Array> {
    const { nLayers, dModel: D } = this.manifest.dims;
    if (!(Number.isInteger(layer) && layer >= 0 && layer < nLayers)) throw new Error(`layer ${layer} out of range: model ${this.manifest.id} has blocks 0..${nLayers - 1}`);
    const skip = opts.skipFirst ? 1 : 0;
    const offsets: number[] = [];
    let total = 0;
    for (const s of seqs) {
      offsets.push(total);
      total += Math.max(0, s.length - skip);
    }
    const out = new Float32Array(total * D);
    const order = seqs.map((_, i) => i).sort((a, b) => seqs[a].length - seqs[b].length || a - b);
    const budget = opts.batchTokens ?? 8192;
    const name = residPost(layer);
    let done = 0;
    for (let start = 0; start < order.length; ) {
      const S = Math.max(1, seqs[order[start]].length);
      let end = start + 1;
      // sorted by length: the last row of a batch is the longest
      while (end < order.length && (end - start + 1) * Math.max(1, seqs[order[end]].length) <= budget) end++;
      const rows = order.slice(start, end);
      const L = Math.max(S, ...rows.map((i) => seqs[i].length));
      const B = rows.length;
      const ids = new BigInt64Array(B * L);
      const posIds = new BigInt64Array(B * L);
      for (let b = 0; b < B; b++) {
        const s = seqs[rows[b]];
        for (let t = 0; t < L; t++) {
          ids[b * L + t] = BigInt(t < s.length ? s[t] : 0);
          posIds[b * L + t] = BigInt(t);
        }
      }
      const feeds = this.emptyPast(B);
      feeds[INPUT_IDS] = new ort.Tensor("int64", ids, [B, L]);
      feeds[POSITION_IDS] = new ort.Tensor("int64", posIds, [B, L]);
      feeds[ATTENTION_MASK] = new ort.Tensor("int64", new BigInt64Array(B * L).fill(1n), [B, L]);
      const res = await this.session.run(feeds, [name]);
      const r = res[name]!.data as Float32Array;
      for (let b = 0; b < B; b++) {
        const s = seqs[rows[b]];
        const n = Math.max(0, s.length - skip);
        out.set(r.subarray((b * L + skip) * D, (b * L + skip + n) * D), offsets[rows[b]] * D);
        done += n;
      }
      opts.onProgress?.(done);
      start = end;
    }
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
