/**
 * The generation engine: a built model directory (manifest.json, model.onnx,
 * tokenizer) behind the SidecarBackend interface. It turns a GenerateRequest
 * into prompt tokens and sampling settings, and hands a Sequence to the
 * scheduler, which batches it with the other requests in flight.
 */
import { status } from "@grpc/grpc-js";
import {
  InfoResponse,
  ProbeResponse,
  SidecarLoad,
  type GenerateChunk,
  type SteeringRequest,
  type GenerateRequest,
  type ProbeRequest,
} from "../../proto/gen/steerguard/v1/sidecar.ts";
import { resolveSamplingParams, type SamplingParams } from "../generation/index.ts";
import { readManifest, type Manifest } from "../model/manifest.ts";
import { SidecarError, type SidecarBackend } from "../server/backend.ts";
import type { SystemRole } from "../tokenizer/chat.ts";
import { loadModelTokenizer } from "../tokenizer/load.ts";
import { PromptBound } from "../tokenizer/prompt-bound.ts";
import { RETRY_AFTER_MS } from "../../proto/metadata.ts";
import type { Tokenizer } from "../tokenizer/types.ts";
import { VERSION } from "../version.ts";
import { OnnxDecoder, type DecoderOptions } from "./decoder.ts";
import { QueueFullError, Scheduler, type SchedulerOptions } from "./scheduler.ts";
import { conditionOutcome, layerStepInputs, type RowCondition } from "../steering/inputs.ts";
import type { SteeringProfile } from "../steering/profile.ts";
import { loadProfiles, prepareModel, type LoadedProfile } from "../steering/registry.ts";
import { Sequence, type SequenceSteering } from "./sequence.ts";
import { DEFAULT_IDLE_CHUNK, DEFAULT_PREFILL_CHUNK, DEFAULT_PREFILL_YIELD, DEFAULT_STEP_TOKENS, type ChunkingOptions } from "./prefill.ts";
import { encodePrompt, promptIds, promptText, type PromptEncoding, type PromptInput, type PromptText } from "./prompt-ids.ts";
import { DEFAULT_TOKENIZER_THREAD_CHARS, ThreadGoneError, TokenizerThread } from "./tokenizer-thread.ts";

export interface EngineOptions extends DecoderOptions {
  /** Most rows decoded together (default 8). */
  maxBatch?: number;
  /** Most requests waiting for a row (default 64); more get RESOURCE_EXHAUSTED. */
  maxQueue?: number;
  /** Most prompt tokens of one request per step (default DEFAULT_PREFILL_CHUNK; 0: whole prompts, no chunking). See prefill.ts. */
  prefillChunk?: number;
  /** Tokens per step, decode rows plus prompt chunks (default DEFAULT_STEP_TOKENS; 0: no limit). */
  stepTokens?: number;
  /** Steps in a row a prompt gives way to a shorter prompt's unfinished chunk (default DEFAULT_PREFILL_YIELD; 0: prompts share every step). See prefill.ts. */
  prefillYield?: number;
  /** Most prompt tokens per step when the prompt is the engine's only work (default DEFAULT_IDLE_CHUNK; never less than prefillChunk; 0: whole). See prefill.ts. */
  idleChunk?: number;
  /** Blocks per segment graph (decoder.ts; here the default is "auto": segments for fused-attention models of 20M+ block parameters on CPU). */
  segmentLayers?: DecoderOptions["segmentLayers"];
  /** MB of cache memory prefaulted at load (default DEFAULT_CACHE_RESERVE_MB; 0: none); see Scheduler's reserveCache. */
  cacheReserveMb?: number;
  /** The scheduler's buffer pool (buffer-pool.ts); default: its own. */
  pool?: SchedulerOptions["pool"];
  /** Called after every scheduler step with what it ran (tests, benchmarks). */
  onStep?: SchedulerOptions["onStep"];
  /** max_tokens when a request gives 0 (default 256). */
  defaultMaxTokens?: number;
  /** Steering profile files to serve (an invalid one stops the load). */
  profiles?: string[];
  /** Folders scanned for *.json profiles; ones that do not fit the model are skipped with a warning. */
  profileDirs?: string[];
  /** System messages for a chat template without a system role (Gemma): "merge" (default) or "error"; see tokenizer/system-role.ts. */
  systemRole?: SystemRole;
  /** Prompts of at least this many characters are tokenized on a thread of their own (default DEFAULT_TOKENIZER_THREAD_CHARS; 0: none); see tokenizer-thread.ts. */
  tokenizerThreadChars?: number;
}

/**
 * Cache memory prefaulted at load: enough for random-100m's whole batch cache
 * (8 rows at 2,048 positions) and one full-context prompt (906 MB; fused
 * attention: 719 MB, gqa-kv-cache.ts reserveGqaCache); a model whose one
 * row does not fit reserves nothing (README, Latency).
 */
export const DEFAULT_CACHE_RESERVE_MB = 1024;

/** Most top-logprobs per token a request may ask for (OpenAI's limit). */
export const MAX_LOGPROBS = 20;

const invalid = (message: string) => new SidecarError(status.INVALID_ARGUMENT, message);

/** RESOURCE_EXHAUSTED for a full queue, with retry-after-ms (and the queue) in its trailers. */
export function overloaded(err: QueueFullError): SidecarError {
  return new SidecarError(status.RESOURCE_EXHAUSTED, err.message, { [RETRY_AFTER_MS]: String(err.load.retryAfterMs) });
}

/** The scheduler's chunking from the engine options (0 turns a limit off). */
export function chunkingOf(opts: Pick<EngineOptions, "prefillChunk" | "stepTokens" | "prefillYield" | "idleChunk">): ChunkingOptions {
  const whole = (n: number | undefined, fallback: number, name: string, zero: string) => {
    const v = n ?? fallback;
    if (!Number.isSafeInteger(v) || v < 0) throw new Error(`${name} must be a whole number >= 0 (0: ${zero}), got ${v}`);
    return v;
  };
  const limit = (n: number | undefined, fallback: number, name: string) => whole(n, fallback, name, "no limit") || Infinity;
  return {
    chunk: limit(opts.prefillChunk, DEFAULT_PREFILL_CHUNK, "prefillChunk"),
    stepTokens: limit(opts.stepTokens, DEFAULT_STEP_TOKENS, "stepTokens"),
    yieldSteps: whole(opts.prefillYield, DEFAULT_PREFILL_YIELD, "prefillYield", "prompts share every step"),
    idleChunk: whole(opts.idleChunk, DEFAULT_IDLE_CHUNK, "idleChunk", "whole prompts") || Infinity,
  };
}

export class Engine implements SidecarBackend {
  /** What a prompt's tokenizing needs (prompt-ids.ts). */
  private readonly encoding: PromptEncoding;

  private constructor(
    readonly manifest: Manifest,
    readonly tokenizer: Tokenizer,
    private readonly decoder: OnnxDecoder,
    private readonly scheduler: Scheduler,
    private readonly opts: EngineOptions,
    /** Steering profiles by name. */
    readonly profiles: ReadonlyMap<string, LoadedProfile> = new Map(),
    /** Where long prompts are tokenized (tokenizer-thread.ts). */
    readonly tokenizerThread?: TokenizerThread,
  ) {
    const bound = new PromptBound(tokenizer, manifest.dims.contextLength);
    this.encoding = { tokenizer, chatTemplate: manifest.chatTemplate, bound, systemRole: opts.systemRole, modelId: manifest.id };
  }

  static async load(modelDir: string, opts: EngineOptions = {}): Promise<Engine> {
    const chunking = chunkingOf(opts);
    const manifest = readManifest(modelDir);
    const tokenizer = await loadModelTokenizer(modelDir, manifest);
    const profiles = loadProfiles({ files: opts.profiles, dirs: opts.profileDirs, warn: opts.warn }, manifest);
    // SAEs the built graph does not carry are attached now (graph surgery).
    const prepared = prepareModel(modelDir, manifest, profiles.values());
    const warn = opts.warn ?? ((m: string) => process.stderr.write(`${m}\n`));
    for (const l of prepared.outdated) warn(`warning: the SAE hook at layer ${l} predates conditional steering; attached again at load (rebuild the model, or npm run attach-sae, to skip this)`);
    const decoder = await OnnxDecoder.load(modelDir, prepared.manifest, { ...opts, segmentLayers: opts.segmentLayers ?? "auto" }, prepared.attached.length ? prepared.model : undefined);
    const scheduler = new Scheduler(decoder, {
      maxBatch: opts.maxBatch ?? 8,
      maxQueue: opts.maxQueue ?? 64,
      chunking,
      onStep: opts.onStep,
      cacheReserveMb: opts.cacheReserveMb ?? DEFAULT_CACHE_RESERVE_MB,
      pool: opts.pool,
    });
    // Not fatal: the first long rows would only find onnxruntime's memory unmapped.
    await scheduler.warmUp().catch((err: Error) => warn(`warning: the warm-up step failed (${err.message}); serving without it`));
    const m = prepared.manifest;
    const threadChars = opts.tokenizerThreadChars ?? DEFAULT_TOKENIZER_THREAD_CHARS;
    const thread = threadChars > 0
      ? new TokenizerThread({ modelDir, manifest: { tokenizer: m.tokenizer, dims: m.dims } }, { minChars: threadChars, log: warn })
      : undefined;
    return new Engine(m, tokenizer, decoder, scheduler, opts, profiles, thread);
  }

  /** The execution provider in use ("cpu" or "cuda"). */
  get device(): string {
    return this.decoder.device;
  }

  /** Graphs a model run goes through: 1 (one graph), or block segments and the head (decoder.ts segmentLayers). */
  get segments(): number {
    return this.decoder.segments;
  }

  /** How the model runs, for the start-up log: one graph, or segments (decoder.ts segmentLayers). */
  get graphLayout(): string {
    const n = this.decoder.segments;
    return n === 1 ? "one graph" : `${n - 1} block segments and the head`;
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
      profiles: [...this.profiles.values()].map(({ profile: p }) => ({
        name: p.name,
        layer: p.layer,
        numFeatures: p.features.length,
        positions: p.positions,
        description: p.description,
        hasCondition: p.condition !== undefined,
        conditionThreshold: p.condition?.threshold ?? 0,
      })),
      executionProvider: this.decoder.device,
      version: VERSION,
      load: this.load(),
    });
  }

  /** The scheduler's queue, its admission limit and the retry-after they give (Info, trailers, metrics). */
  load(): SidecarLoad {
    const l = this.scheduler.load();
    return SidecarLoad.fromPartial({
      queueDepth: l.queueDepth,
      queueLimit: l.queueLimit,
      batchRows: l.batchRows,
      maxBatch: l.maxBatch,
      meanServiceMs: l.meanServiceMs,
      retryAfterMs: l.retryAfterMs,
      saturated: l.saturated,
    });
  }

  /** The buffer pool's memory (for metrics; buffer-pool.ts). */
  get memory(): { keptBytes: number; reservedBytes: number; allocatedBytes: number } {
    const pool = this.scheduler.pool;
    return { keptBytes: pool.bytes, reservedBytes: this.scheduler.reserved, allocatedBytes: pool.allocatedBytes };
  }

  /** Requests refused for a full queue since the start (for metrics). */
  get refusedTotal(): number {
    return this.scheduler.load().refusedTotal;
  }

  /** Prompt token ids for a request's input (chat template or raw text), on this thread. */
  promptIds(input: PromptInput): number[] {
    return promptIds(this.encoding, input);
  }

  /** A checked prompt's ids: a long one's from the tokenizer thread (tokenizer-thread.ts), others tokenized here. */
  private async idsFor(text: PromptText): Promise<number[]> {
    return (await this.idsOffThread(text)) ?? encodePrompt(this.tokenizer, text);
  }

  /** A long prompt's ids from the tokenizer thread, or undefined: tokenize it here. */
  private async idsOffThread(text: PromptText): Promise<number[] | undefined> {
    const offThread = this.tokenizerThread?.encode(text);
    try {
      return offThread && (await offThread);
    } catch (err) {
      if (err instanceof ThreadGoneError) return undefined;
      throw err;
    }
  }

  async *generate(request: GenerateRequest, signal: AbortSignal): AsyncIterable<GenerateChunk> {
    // Shed before tokenizing: a refusal under load costs next to nothing.
    if (this.scheduler.saturated) throw overloaded(this.scheduler.refuse());
    // Refusals (too long, no chat template) come at once, from this thread; only a long prompt
    // waits here (for the tokenizer thread), others are queued at once, in order.
    const text = promptText(this.encoding, request.input);
    const ids = this.tokenizerThread?.takes(text) ? await this.idsFor(text) : encodePrompt(this.tokenizer, text);
    const seq = this.sequenceFor(request, signal, ids);
    try {
      this.scheduler.submit(seq);
    } catch (err) {
      if (err instanceof QueueFullError) throw overloaded(err);
      throw err;
    }
    yield* seq.output;
  }

  /** Validates a request and makes its Sequence (not yet scheduled); `ids`: its prompt already tokenized. */
  sequenceFor(request: GenerateRequest, signal: AbortSignal, ids?: number[]): Sequence {
    const steering = request.steering?.profile ? this.steeringFor(request.steering) : undefined;
    const promptIds = ids ?? this.promptIds(request.input);
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
        steering,
        steeringApplied: steering !== undefined,
      },
      this.tokenizer,
      eos,
    );
  }

  /** A loaded profile by name, or INVALID_ARGUMENT naming the ones there are. */
  profile(name: string): LoadedProfile {
    const p = this.profiles.get(name);
    if (!p) {
      const known = [...this.profiles.keys()];
      throw invalid(`unknown steering profile "${name}" (${known.length ? `loaded: ${known.join(", ")}` : "this sidecar has none loaded"})`);
    }
    return p;
  }

  private steeringFor(req: SteeringRequest): SequenceSteering {
    const { profile } = this.profile(req.profile);
    const strength = req.strength ?? 1;
    if (!Number.isFinite(strength)) throw invalid(`steering strength must be a finite number, got ${strength}`);
    const steering: SequenceSteering = { layer: profile.layer, features: profile.features, positions: profile.positions, strength };
    if (req.conditional) steering.condition = this.conditionFor(profile, req.conditionThreshold);
    return steering;
  }

  /** A profile's condition with the request's threshold, or INVALID_ARGUMENT naming the profile. */
  private conditionFor(profile: SteeringProfile, threshold: number | undefined): RowCondition {
    const c = profile.condition;
    if (!c) throw invalid(`steering profile "${profile.name}" has no condition, so it cannot steer conditionally (${profile.file})`);
    if (threshold !== undefined && !Number.isFinite(threshold)) throw invalid(`condition_threshold must be a finite number, got ${threshold}`);
    return { features: c.features, threshold: threshold ?? c.threshold };
  }

  /**
   * Runs the prompt once, unsteered, and reads the profile's SAE features at
   * its layer: the activation at the last prompt token, the mean and the max
   * over the prompt's tokens.
   */
  async probe(request: ProbeRequest, signal?: AbortSignal): Promise<ProbeResponse> {
    if (!request.profile) throw invalid("probe needs a steering profile name");
    const { profile } = this.profile(request.profile);
    const ids = await this.idsFor(promptText(this.encoding, request.input));
    if (ids.length === 0) throw invalid("prompt is empty (and the tokenizer adds no BOS)");
    const context = this.manifest.dims.contextLength;
    if (ids.length > context) throw invalid(`prompt is ${ids.length} tokens; the model's context is ${context}`);
    if (signal?.aborted) throw new SidecarError(status.CANCELLED, "cancelled by the caller");
    const n = ids.length;
    // Gate on (so the hook computes its activations) but no position steered:
    // the model's own view of the prompt, bit for bit the unsteered residual.
    // The condition's features ride in the same slots as in a conditional Generate.
    const condition = profile.condition && { features: profile.condition.features, threshold: profile.condition.threshold };
    const feed = layerStepInputs([{ features: profile.features, strength: 1, positions: "generated", promptLength: n, condition }], n, [0]);
    feed.positions.fill(0);
    const L = profile.layer;
    const out = await this.decoder.prefill(ids, { steering: { [L]: feed }, acts: [L], cond: condition ? [L] : undefined });
    const acts = out.acts![L]!; // [1, n, K]
    const K = feed.k;
    const outcome = condition ? conditionOutcome(out.cond![L]![n - 1]!, condition.threshold) : undefined;
    return ProbeResponse.fromPartial({
      promptTokens: n,
      condition: outcome,
      features: profile.features.map((f, j) => {
        let sum = 0;
        let max = -Infinity;
        for (let t = 0; t < n; t++) {
          const a = acts[t * K + j]!;
          sum += a;
          if (a > max) max = a;
        }
        return { index: f.index, layer: profile.layer, last: acts[(n - 1) * K + j]!, mean: sum / n, max };
      }),
    });
  }

  async close(): Promise<void> {
    await this.tokenizerThread?.close();
    await this.scheduler.stop();
    await this.decoder.release();
  }
}
