/**
 * Continuous batching: concurrent requests share the model.
 *
 * The loop, one iteration per decode step:
 *   1. drop rows whose caller went away (their cache is freed at once);
 *   2. admit waiting requests while the batch has room: each is prefilled on
 *      its own (batch 1), samples its first token, and its cache joins the
 *      batch (kv-cache.ts right-aligns rows of different lengths);
 *   3. one decode step for every running row, then each row samples its next
 *      token; finished rows leave the batch.
 * Requests join and leave only at step boundaries. The waiting queue is
 * bounded: when it is full, submit() throws QueueFullError at once, carrying
 * the load (queue depth, limit, retry-after) a caller passes on (load.ts).
 */
import { layerStepInputs, type LayerStepInputs } from "../steering/inputs.ts";
import type { OnnxDecoder } from "./decoder.ts";
import { BatchKvCache } from "./kv-cache.ts";
import { retryAfterMs, ServiceTimeMean, type SchedulerLoad } from "./load.ts";
import type { Sequence } from "./sequence.ts";

export interface SchedulerOptions {
  /** Most rows decoded together. */
  maxBatch: number;
  /**
   * Most requests waiting for a row, beyond those the next step boundary
   * admits into free rows; more are refused.
   */
  maxQueue: number;
}

export class QueueFullError extends Error {
  constructor(readonly load: SchedulerLoad) {
    super(`the request queue is full (${load.queueDepth} waiting, limit ${load.queueLimit}); retry in ${load.retryAfterMs / 1000} s`);
    this.name = "QueueFullError";
  }
}

export class Scheduler {
  private readonly waiting: Sequence[] = [];
  private running: Sequence[] = [];
  /** The token each running row feeds at the next step. */
  private nextTokens: number[] = [];
  private readonly cache: BatchKvCache;
  private loop: Promise<void> | undefined;
  private stopped = false;
  /** Steps run so far (for tests and metrics). */
  steps = 0;
  /** Requests refused with QueueFullError so far. */
  private refused = 0;
  /** How long finished requests held their row. */
  private readonly service = new ServiceTimeMean();

  constructor(
    private readonly decoder: OnnxDecoder,
    private readonly opts: SchedulerOptions,
  ) {
    const { nLayers, nKvHeads, headDim } = decoder.manifest.dims;
    this.cache = new BatchKvCache(nLayers, nKvHeads, headDim);
  }

  /** Rows in the running batch. */
  get batchSize(): number {
    return this.running.length;
  }

  get queueLength(): number {
    return this.waiting.length;
  }

  /**
   * True when submit() would refuse a request now: the queue holds maxQueue
   * requests beyond those the free rows take at the next step boundary.
   */
  get saturated(): boolean {
    const freeRows = Math.max(0, this.opts.maxBatch - this.running.length);
    return this.waiting.length >= this.opts.maxQueue + freeRows;
  }

  /** The queue and its limit, the mean service time and the retry-after they give. */
  load(): SchedulerLoad {
    const meanServiceMs = this.service.ms;
    return {
      queueDepth: this.waiting.length,
      queueLimit: this.opts.maxQueue,
      batchRows: this.running.length,
      maxBatch: this.opts.maxBatch,
      meanServiceMs,
      retryAfterMs: retryAfterMs(this.waiting.length, meanServiceMs, this.opts.maxBatch),
      saturated: this.saturated,
      refusedTotal: this.refused,
    };
  }

  /** Counts a request refused for a full queue without reaching submit() (the engine checks first). */
  refuse(): QueueFullError {
    this.refused++;
    return new QueueFullError(this.load());
  }

  /** Queues a sequence; its output channel streams the result. */
  submit(seq: Sequence): void {
    if (this.stopped) throw new Error("the scheduler is stopped");
    if (this.saturated) throw this.refuse();
    this.waiting.push(seq);
    // Wake the loop on cancellation too, so a queued request leaves promptly.
    seq.request.signal.addEventListener("abort", () => this.kick(), { once: true });
    this.kick();
  }

  /** Stops admitting; resolves when the running loop has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const seq of this.waiting.splice(0)) seq.fail(new Error("the server is shutting down"));
    await this.loop;
  }

  private kick(): void {
    this.loop ??= this.run().finally(() => {
      this.loop = undefined;
      if (!this.stopped && (this.waiting.length > 0 || this.running.length > 0)) this.kick();
    });
  }

  private async run(): Promise<void> {
    while (this.waiting.length > 0 || this.running.length > 0) {
      this.dropCancelled();
      try {
        await this.admit();
        if (this.running.length > 0) await this.decodeStep();
      } catch (err) {
        // A model failure ends every request in flight with the error.
        for (const seq of [...this.running, ...this.waiting.splice(0)]) seq.fail(err);
        this.cache.remove(this.running.map((_, b) => b));
        this.running = [];
        this.nextTokens = [];
      }
      // Let gRPC writes and new calls through between steps.
      await new Promise((r) => setImmediate(r));
    }
  }

  private dropCancelled(): void {
    for (let i = this.waiting.length - 1; i >= 0; i--) {
      if (this.waiting[i]!.cancelled) this.waiting.splice(i, 1)[0]!.cancel();
    }
    this.removeRows(this.running.flatMap((seq, b) => (seq.cancelled ? [b] : [])), (seq) => seq.cancel());
  }

  private removeRows(rows: number[], each: (seq: Sequence) => void = () => {}): void {
    if (rows.length === 0) return;
    const gone = new Set(rows);
    for (const b of rows) each(this.running[b]!);
    this.cache.remove(rows);
    this.running = this.running.filter((_, b) => !gone.has(b));
    this.nextTokens = this.nextTokens.filter((_, b) => !gone.has(b));
  }

  /** Prefills waiting sequences one at a time while the batch has room. */
  private async admit(): Promise<void> {
    while (this.waiting.length > 0 && this.running.length < this.opts.maxBatch) {
      const seq = this.waiting.shift()!;
      if (seq.cancelled) {
        seq.cancel();
        continue;
      }
      const ids = seq.request.promptIds;
      const n = ids.length;
      const { vocabSize } = this.decoder.manifest.dims;
      seq.admittedAt = performance.now();
      const out = await this.decoder.prefill(ids, { steering: this.steeringInputs([seq], n, [0]) });
      this.steps++;
      const next = seq.accept(out.logits.subarray((n - 1) * vocabSize, n * vocabSize));
      if (next === undefined) {
        this.served(seq);
        continue;
      }
      this.cache.add({ length: n, keys: out.presentKeys, values: out.presentValues });
      this.running.push(seq);
      this.nextTokens.push(next);
    }
  }

  /**
   * Steering inputs for the hooked layers some row steers (other layers, and
   * unsteered rows, get gate 0). `starts[b]` is row b's first new position.
   */
  private steeringInputs(rows: Sequence[], seq: number, starts: number[]): Record<number, LayerStepInputs> | undefined {
    let out: Record<number, LayerStepInputs> | undefined;
    for (const layer of this.decoder.steerLayers) {
      const per = rows.map((s) => {
        const st = s.request.steering;
        return st && st.layer === layer ? { ...st, promptLength: s.request.promptIds.length } : null;
      });
      if (per.every((r) => r === null)) continue;
      (out ??= {})[layer] = layerStepInputs(per, seq, starts);
    }
    return out;
  }

  private async decodeStep(): Promise<void> {
    const B = this.running.length;
    const P = this.cache.pastLength;
    const out = await this.decoder.step({
      batch: B,
      seq: 1,
      inputIds: BigInt64Array.from(this.nextTokens, BigInt),
      positionIds: BigInt64Array.from(this.running, (_, b) => BigInt(this.cache.rowLength(b))),
      attentionMask: this.cache.stepMask(1),
      pastKeys: this.cache.pastKeys(),
      pastValues: this.cache.pastValues(),
      pastLength: P,
      steering: this.steeringInputs(this.running, 1, this.running.map((_, b) => this.cache.rowLength(b))),
      presentInto: this.cache.presentBuffers(1),
    });
    this.steps++;
    this.cache.advance(out.presentKeys, out.presentValues, 1);
    const V = this.decoder.manifest.dims.vocabSize;
    const finished: number[] = [];
    this.running.forEach((seq, b) => {
      // A row cancelled during the step is dropped without sampling.
      if (seq.cancelled) return void finished.push(b);
      const next = seq.accept(out.logits.subarray(b * V, (b + 1) * V));
      if (next === undefined) finished.push(b);
      else this.nextTokens[b] = next;
    });
    this.removeRows(finished, (seq) => {
      if (seq.cancelled && !seq.done) seq.cancel();
      else this.served(seq);
    });
  }

  /** Records how long a finished (not cancelled) request held its row. */
  private served(seq: Sequence): void {
    if (seq.cancelled || seq.admittedAt === undefined) return;
    this.service.add(performance.now() - seq.admittedAt);
  }
}
