/**
 * One request's generation state: what it has generated, how it samples, how
 * its text is streamed, and when it is done. The scheduler feeds it one row of
 * logits per step; it turns each chosen token into a GenerateChunk.
 */
import { Sampler, StopStringMatcher, stepLogprobs, type SamplingParams } from "../generation/index.ts";
import { TextStreamDecoder } from "../tokenizer/stream.ts";
import type { Tokenizer } from "../tokenizer/types.ts";
import { FinishReason, GenerateChunk, type ConditionOutcome, type TokenLogprob } from "../../proto/gen/steerguard/v1/sidecar.ts";
import { conditionOutcome, type RowCondition } from "../steering/inputs.ts";
import type { SteeringFeature, SteeringPositions } from "../steering/profile.ts";
import { Channel } from "./channel.ts";

export interface SequenceRequest {
  id: string;
  promptIds: number[];
  /** Most new tokens (already capped to the context by the caller). */
  maxTokens: number;
  sampling: SamplingParams;
  stop: string[];
  /** Top-k logprobs per token; 0 = none. */
  logprobs: number;
  signal: AbortSignal;
  /** How the row is steered (absent: unsteered, gate 0 at every hooked layer). */
  steering?: SequenceSteering;
  steeringApplied?: boolean;
}

export interface SequenceSteering {
  /** Hooked layer the profile's SAE reads. */
  layer: number;
  features: readonly SteeringFeature[];
  positions: SteeringPositions;
  strength: number;
  /** Conditional steering: steer only if this holds at the last prompt token (decided by the scheduler). */
  condition?: RowCondition;
}

export class Sequence {
  readonly generated: number[] = [];
  readonly output = new Channel<GenerateChunk>();
  private readonly sampler: Sampler;
  private readonly text: TextStreamDecoder;
  private readonly stops: StopStringMatcher;
  private readonly receivedAt = performance.now();
  private firstTokenAt: number | undefined;
  /** When the scheduler gave it a row (performance.now()); undefined while it waits. */
  admittedAt: number | undefined;
  finishReason: FinishReason | undefined;
  /** What the condition decided (conditional steering), once decided; it goes out on the first chunk. */
  condition: ConditionOutcome | undefined;
  private sentFirst = false;

  constructor(
    readonly request: SequenceRequest,
    private readonly tokenizer: Tokenizer,
    private readonly eosIds: ReadonlySet<number>,
  ) {
    this.sampler = new Sampler(request.sampling);
    this.text = new TextStreamDecoder(tokenizer);
    this.stops = new StopStringMatcher(request.stop);
    // Prime the stream decoder with the prompt's last token so a BOS-only
    // prompt strips the dummy space exactly as decode() would.
    const last = request.promptIds[request.promptIds.length - 1];
    if (last !== undefined) this.text.push(last);
  }

  get done(): boolean {
    return this.finishReason !== undefined;
  }

  get cancelled(): boolean {
    return this.request.signal.aborted;
  }

  /** True while a conditional row's condition is still to be decided. */
  get undecided(): boolean {
    return this.request.steering?.condition !== undefined && this.condition === undefined;
  }

  /**
   * Latches the condition on its value at the last prompt token, compared in
   * float32 as the graph compared it (a NaN value steers, as in the graph).
   */
  decideCondition(value: number): void {
    this.condition = conditionOutcome(value, this.request.steering!.condition!.threshold);
  }

  /**
   * Chooses the next token from its logits row and streams it. Returns the
   * token to feed at the next step, or undefined when the sequence finished.
   */
  accept(logits: Float32Array): number | undefined {
    const token = this.sampler.sample(logits);
    this.firstTokenAt ??= performance.now();
    if (this.eosIds.has(token)) {
      this.finish(FinishReason.FINISH_REASON_STOP);
      return undefined;
    }
    this.generated.push(token);
    const { emit, stopped } = this.stops.push(this.text.push(token));
    const chunk = GenerateChunk.fromPartial({ text: emit, tokenIds: [token] });
    if (this.request.logprobs > 0) chunk.logprobs = [this.logprobsOf(logits, token)];
    if (stopped) {
      this.finish(FinishReason.FINISH_REASON_STOP, chunk);
      return undefined;
    }
    this.emit(chunk);
    if (this.generated.length >= this.request.maxTokens) {
      this.finish(FinishReason.FINISH_REASON_LENGTH);
      return undefined;
    }
    return token;
  }

  /** Streams a chunk; the first carries the condition's outcome. */
  private emit(chunk: GenerateChunk): void {
    if (!this.sentFirst && this.condition) chunk.condition = this.condition;
    this.sentFirst = true;
    this.output.push(chunk);
  }

  /** Ends the stream with an error (e.g. the model failed). */
  fail(error: unknown): void {
    this.finishReason = FinishReason.FINISH_REASON_CANCELLED;
    this.output.close(error);
  }

  /** Ends the stream because the caller went away. */
  cancel(): void {
    this.finishReason = FinishReason.FINISH_REASON_CANCELLED;
    this.output.close();
  }

  private logprobsOf(logits: Float32Array, token: number) {
    const lp = stepLogprobs(logits, token, this.request.logprobs);
    const named = (t: { tokenId: number; logprob: number }): TokenLogprob => ({
      tokenId: t.tokenId,
      text: this.tokenizer.tokenText(t.tokenId),
      logprob: t.logprob,
    });
    return { chosen: named(lp.chosen), top: lp.top.map(named) };
  }

  /**
   * Emits the final chunk: text still held back (unless a stop string ended
   * it), the finish reason and usage. The end-of-sequence token itself is
   * not reported (it has no text).
   */
  private finish(reason: FinishReason, last?: GenerateChunk): void {
    this.finishReason = reason;
    const chunk = last ?? GenerateChunk.fromPartial({});
    if (!last) {
      const tail = this.stops.push(this.text.flush());
      chunk.text = tail.stopped ? tail.emit : tail.emit + this.stops.flush();
    }
    const now = performance.now();
    const first = this.firstTokenAt ?? now;
    const decodeTokens = Math.max(0, this.generated.length - 1);
    chunk.finish = {
      reason,
      usage: {
        promptTokens: this.request.promptIds.length,
        completionTokens: this.generated.length,
        timeToFirstTokenMs: first - this.receivedAt,
        decodeTokensPerSecond: decodeTokens > 0 && now > first ? (decodeTokens * 1000) / (now - first) : 0,
        steeringApplied: (this.request.steeringApplied ?? false) && this.condition?.steer !== false,
      },
    };
    this.emit(chunk);
    this.output.close();
  }
}
