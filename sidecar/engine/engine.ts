/**
 * The generation engine: a built model directory (manifest.json, model.onnx,
 * tokenizer) behind the SidecarBackend interface. It turns a GenerateRequest
 * into prompt tokens and sampling settings, and hands a Sequence to the
 * scheduler, which batches it with the other requests in flight.
 */
import { status } from "@grpc/grpc-js";
import {
  InfoResponse,
  type GenerateChunk,
  type GenerateRequest,
  type ProbeResponse,
} from "../../proto/gen/steerguard/v1/sidecar.ts";
import { resolveSamplingParams, type SamplingParams } from "../generation/index.ts";
import { readManifest, type Manifest } from "../model/manifest.ts";
import { SidecarError, type SidecarBackend } from "../server/backend.ts";
import { encodeChat } from "../tokenizer/chat.ts";
import { loadTokenizer } from "../tokenizer/load.ts";
import type { Tokenizer } from "../tokenizer/types.ts";
import { VERSION } from "../version.ts";
import { OnnxDecoder, type DecoderOptions } from "./decoder.ts";
import { QueueFullError, Scheduler } from "./scheduler.ts";
import { Sequence } from "./sequence.ts";

export interface EngineOptions extends DecoderOptions {
  /** Most rows decoded together (default 8). */
  maxBatch?: number;
  /** Most requests waiting for a row (default 64); more get RESOURCE_EXHAUSTED. */
  maxQueue?: number;
  /** max_tokens when a request gives 0 (default 256). */
  defaultMaxTokens?: number;
}

/** Most top-logprobs per token a request may ask for (OpenAI's limit). */
export const MAX_LOGPROBS = 20;

const invalid = (message: string) => new SidecarError(status.INVALID_ARGUMENT, message);

export class Engine implements SidecarBackend {
  private constructor(
    readonly manifest: Manifest,
    readonly tokenizer: Tokenizer,
    private readonly decoder: OnnxDecoder,
    private readonly scheduler: Scheduler,
    private readonly opts: EngineOptions,
  ) {}

  static async load(modelDir: string, opts: EngineOptions = {}): Promise<Engine> {
    const manifest = readManifest(modelDir);
    const t = manifest.tokenizer;
    const tokenizer = await loadTokenizer(modelDir, {
      kind: t.kind,
      file: t.files[0]!,
      bosId: t.bosId ?? -1,
      eosId: t.eosId ?? -1,
      addBos: t.addBos,
      vocabSize: manifest.dims.vocabSize,
    });
    const decoder = await OnnxDecoder.load(modelDir, manifest, opts);
    const scheduler = new Scheduler(decoder, { maxBatch: opts.maxBatch ?? 8, maxQueue: opts.maxQueue ?? 64 });
    return new Engine(manifest, tokenizer, decoder, scheduler, opts);
  }

  /** The execution provider in use ("cpu" or "cuda"). */
  get device(): string {
    return this.decoder.device;
  }

  info(): InfoResponse {
    const d = this.manifest.dims;
    return InfoResponse.fromPartial({
      modelId: this.manifest.id,
      architecture: this.manifest.architecture,
      numLayers: d.nLayers,
      dModel: d.dModel,
      vocabSize: d.vocabSize,
      contextLength: d.contextLength,
      hookedLayers: this.manifest.hookedLayers,
      profiles: [],
      executionProvider: this.decoder.device,
      version: VERSION,
    });
  }

  /** Prompt token ids for a request's input (chat template or raw text). */
  promptIds(input: GenerateRequest["input"]): number[] {
    if (input?.$case === "conversation") {
      const messages = input.value.messages.map((m) => ({ role: m.role, content: m.content }));
      if (messages.length === 0) throw invalid("conversation has no messages");
      if (!this.manifest.chatTemplate) throw invalid(`model ${this.manifest.id} has no chat template; send a raw prompt instead`);
      try {
        return encodeChat(this.tokenizer, this.manifest.chatTemplate, messages, { addGenerationPrompt: true });
      } catch (err) {
        throw invalid((err as Error).message);
      }
    }
    if (input?.$case === "prompt") return this.tokenizer.encode(input.value);
    throw invalid("request has neither a conversation nor a prompt");
  }

  async *generate(request: GenerateRequest, signal: AbortSignal): AsyncIterable<GenerateChunk> {
    const seq = this.sequenceFor(request, signal);
    try {
      this.scheduler.submit(seq);
    } catch (err) {
      if (err instanceof QueueFullError) throw new SidecarError(status.RESOURCE_EXHAUSTED, err.message);
      throw err;
    }
    yield* seq.output;
  }

  /** Validates a request and makes its Sequence (not yet scheduled). */
  sequenceFor(request: GenerateRequest, signal: AbortSignal): Sequence {
    if (request.steering?.profile) {
      throw invalid(`unknown steering profile "${request.steering.profile}" (this sidecar has none loaded)`);
    }
    const promptIds = this.promptIds(request.input);
    if (promptIds.length === 0) throw invalid("prompt is empty (and the tokenizer adds no BOS)");
    const context = this.manifest.dims.contextLength;
    if (promptIds.length >= context) {
      throw invalid(`prompt is ${promptIds.length} tokens; the model's context is ${context}`);
    }
    const s = request.sampling;
    const sampling: SamplingParams = { temperature: s?.temperature, topP: s?.topP, topK: s?.topK ?? 0, seed: s?.seed };
    try {
      resolveSamplingParams(sampling);
    } catch (err) {
      throw invalid((err as Error).message);
    }
    const logprobs = s?.logprobs ?? 0;
    if (logprobs > MAX_LOGPROBS) throw invalid(`logprobs must be at most ${MAX_LOGPROBS}, got ${logprobs}`);
    const wanted = s?.maxTokens || (this.opts.defaultMaxTokens ?? 256);
    const eos = new Set(this.manifest.tokenizer.eosIds);
    return new Sequence(
      {
        id: request.requestId,
        promptIds,
        maxTokens: Math.min(wanted, context - promptIds.length),
        sampling,
        stop: (s?.stop ?? []).filter((x) => x.length > 0),
        logprobs,
        signal,
      },
      this.tokenizer,
      eos,
    );
  }

  async probe(): Promise<ProbeResponse> {
    throw invalid("this sidecar has no steering profiles loaded");
  }

  async close(): Promise<void> {
    await this.scheduler.stop();
    await this.decoder.release();
  }
}
