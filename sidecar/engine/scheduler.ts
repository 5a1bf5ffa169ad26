/**
 * Continuous batching: concurrent requests share the model.
 *
 * The loop, one iteration per step:
 *   1. drop rows whose caller went away (their cache is freed at once);
 *   2. admit waiting requests while the batch has room (a prompt being
 *      prefilled holds a row);
 *   3. prefill: the step's token budget, less one token per running row, goes
 *      to the prompts being prefilled, a chunk each, shortest first, and none
 *      to one with more left than a prompt whose chunk did not finish it
 *      (for a few steps; prefill.ts), and bigger chunks to a prompt that is
 *      the only work; each chunk runs on its own (batch 1) against the row's
 *      cache so far. Chunks are planned one at a time, and requests that
 *      arrived while the last one ran are admitted first, so a short prompt
 *      sent during a long prompt's chunk goes next, not a whole step later.
 *      A prompt of more than one chunk is held out of the step that admitted
 *      it, so one sent just after it, during that step's decode run, is
 *      planned with it, shortest first. With the graph in segments
 *      (decoder.ts segmentLayers) every run, the step's decode run too,
 *      pauses between segments, and a short prompt that arrived meanwhile
 *      runs whole there (letThrough). A prompt whose last chunk ran samples its first token;
 *      a conditional request's condition is read from the hook in that last
 *      chunk and latched (Sequence.decideCondition): from then on the row is
 *      steered plainly, or not at all;
 *   4. one decode step for every running row, then each row samples its next
 *      token; finished rows leave the batch;
 *   5. the prompts prefilled in 3 join the batch (kv-cache.ts right-aligns
 *      rows of different lengths; gqa-kv-cache.ts left-aligns them for fused
 *      attention), so a step never runs more tokens than its
 *      budget.
 * Memory: the batch cache, each prompt's cache while it is prefilled
 * (row-buffers.ts) and the logits are written into buffers from one pool
 * (buffer-pool.ts) and given back to it, and `cacheReserveMb` of the cache is
 * written at start, so a long row joining reuses memory already mapped
 * rather than stalling every stream on page faults.
 * Rows join and leave the running batch only at step boundaries. With chunking off
 * (NO_CHUNKING) each prompt is prefilled whole in the step that admits it. The waiting queue is
 * bounded: when it is full, submit() throws QueueFullError at once, carrying
 * the load (queue depth, limit, retry-after) a caller passes on (load.ts).
 */
import { layerStepInputs, type LayerStepInputs, type RowSteering } from "../steering/inputs.ts";
import { BufferPool, fits } from "./buffer-pool.ts";
import type { OnnxDecoder } from "./decoder.ts";
import { batchCacheFor, type KvCache, type RowCache } from "./kv-cache.ts";
import { capacityFor, reserveGqaCache, reservesLargestBatch } from "./gqa-kv-cache.ts";
import { RowBuffers } from "./row-buffers.ts";
import { retryAfterMs, ServiceTimeMean, type SchedulerLoad } from "./load.ts";
import { capAfter, countPassedOver, idleGrowth, mustPrefillWhole, NO_CHUNKING, PendingPrompt, planChunks, type ChunkingOptions, type StepTrace } from "./prefill.ts";
import type { Sequence } from "./sequence.ts";

export interface SchedulerOptions {
  /** Most rows decoded together. */
  maxBatch: number;
  /**
   * Most requests waiting for a row, beyond those the next step boundary
   * admits into free rows; more are refused.
   */
  maxQueue: number;
  /** Prompt chunk and step token budget (prefill.ts); default NO_CHUNKING. */
  chunking?: ChunkingOptions;
  /** Called after every step that ran something, with what it ran (tests, benchmarks). */
  onStep?: (step: StepTrace) => void;
  /** Where cache, prefill and logits buffers come from and go back to (buffer-pool.ts; default: a pool of its own). */
  pool?: BufferPool;
  /**
   * MB of cache memory to prefault at start (reserveCache; default 0: none),
   * so the first long prompts do not pay page faults while streams run.
   */
  cacheReserveMb?: number;
}

/** Most turns of the event loop the scheduler takes to admit arrivals before planning a run (admitArrivals). */
const ADMIT_TURNS = 4;

export class QueueFullError extends Error {
  constructor(readonly load: SchedulerLoad) {
    super(`the request queue is full (${load.queueDepth} waiting, limit ${load.queueLimit}); retry in ${load.retryAfterMs / 1000} s`);
    this.name = "QueueFullError";
  }
}

export class Scheduler {
  private readonly waiting: Sequence[] = [];
  /** Admitted prompts not yet wholly in the cache; each holds a row. */
  private prefilling: PendingPrompt[] = [];
  private running: Sequence[] = [];
  /** The token each running row feeds at the next step. */
  private nextTokens: number[] = [];
  /** Right-aligned rows (kv-cache.ts), or left-aligned for fused attention (gqa-kv-cache.ts). */
  private readonly cache: KvCache;
  private loop: Promise<void> | undefined;
  private stopped = false;
  /** Steps run so far (for tests and metrics). */
  steps = 0;
  /** Requests refused with QueueFullError so far. */
  private refused = 0;
  /** How long finished requests held their row. */
  private readonly service = new ServiceTimeMean();
  /** Memory kept for reuse (buffer-pool.ts): the batch cache's, prefilling rows', the logits'. */
  readonly pool: BufferPool;
  /**
   * The buffers runs write their logits into (a run's logits are read before
   * the next run): one for the step's own runs, one for a prompt let through
   * while a run is paused (letThrough), so growing that one never hands the
   * paused run's buffer back to the pool.
   */
  private readonly logits: { run: Float32Array; nested: Float32Array } = { run: new Float32Array(0), nested: new Float32Array(0) };

  constructor(
    private readonly decoder: OnnxDecoder,
    private readonly opts: SchedulerOptions,
  ) {
    this.pool = opts.pool ?? new BufferPool();
    this.cache = batchCacheFor(decoder.manifest, this.pool);
    if (opts.cacheReserveMb) this.reserved = this.reserveCache(this.reserveBudget);
  }

  /** The reserve's budget in bytes (cacheReserveMb). */
  private get reserveBudget(): number {
    return (this.opts.cacheReserveMb ?? 0) * 2 ** 20;
  }

  /** Bytes prefaulted at start (reserveCache). */
  readonly reserved: number = 0;

  /**
   * Prefaults, within `budget` bytes, the buffers of the largest batch cache
   * (kv-cache.ts: the cache and its spare, keys and values, of every layer,
   * maxBatch rows at the full context, or as many rows as fit) and, when
   * that is whole, of one prompt of the full context being prefilled
   * (row-buffers.ts). The pool serves them when a long row joins. Fused
   * attention: its cache takes buffers by its own growth rule
   * (gqa-kv-cache.ts reserveGqaCache).
   */
  private reserveCache(budget: number): number {
    const dims = this.decoder.manifest.dims;
    if (this.decoder.fused) return reserveGqaCache(this.pool, dims, this.opts.maxBatch, budget);
    const { nLayers, nKvHeads: H, headDim: D, contextLength } = dims;
    const row = H * contextLength * D;
    const perRow = 4 * nLayers * row * 4;
    const rows = Math.min(this.opts.maxBatch, Math.floor(budget / perRow));
    if (rows === 0) return 0;
    let bytes = this.pool.prefault(4 * nLayers, rows * row);
    if (rows === this.opts.maxBatch && budget - bytes >= perRow) bytes += this.pool.prefault(4 * nLayers, row);
    return bytes;
  }

  /**
   * Once before the first request (Engine.load), with fused attention and a
   * reserve that holds the largest batch cache: one decode step of maxBatch
   * rows at the full context, its results dropped. GroupQueryAttention copies
   * the past into a present of its own ([B, nKv, capacity, headDim] per layer,
   * onnxruntime's memory) every step, so the first step after a long row
   * joined made that memory: 24,000 page faults, the streams stalled for
   * 310-330 ms (bench:latency's first round, random-100m). Under the
   * sidecar's malloc settings that memory comes from malloc's heap, which
   * keeps it, and that step finds it mapped (none of those faults). With
   * onnxruntime's arena instead (decoder.ts cpuArena) 14,400 remained: the
   * arena keeps its regions but touches them part by part.
   */
  async warmUp(): Promise<void> {
    const dims = this.decoder.manifest.dims;
    const { nLayers, nKvHeads: H, headDim: D, contextLength } = dims;
    const B = this.opts.maxBatch;
    if (!this.decoder.fused || !reservesLargestBatch(dims, B, this.reserveBudget)) return;
    const P = capacityFor(contextLength + 1);
    // Keys and values are only read: one buffer serves every layer (its contents do not matter).
    const n = B * H * P * D;
    const past = this.pool.take(n).subarray(0, n);
    const last = BigInt(contextLength - 1);
    try {
      await this.decoder.step({
        batch: B,
        seq: 1,
        inputIds: new BigInt64Array(B),
        positionIds: new BigInt64Array(B).fill(last),
        attentionMask: new BigInt64Array(0),
        pastKeys: Array.from({ length: nLayers }, () => past),
        pastValues: Array.from({ length: nLayers }, () => past),
        pastLength: P,
      });
    } finally {
      this.pool.give(past);
    }
  }

  /** Rows in the running batch. */
  get batchSize(): number {
    return this.running.length;
  }

  /** Rows in use: the running batch and the prompts being prefilled. */
  private get rowsInUse(): number {
    return this.running.length + this.prefilling.length;
  }

  /** Prompts admitted and still being prefilled. */
  get prefillLength(): number {
    return this.prefilling.length;
  }

  get queueLength(): number {
    return this.waiting.length;
  }

  /**
   * True when submit() would refuse a request now: the queue holds maxQueue
   * requests beyond those the free rows take at the next step boundary.
   */
  get saturated(): boolean {
    const freeRows = Math.max(0, this.opts.maxBatch - this.rowsInUse);
    return this.waiting.length >= this.opts.maxQueue + freeRows;
  }

  /** The queue and its limit, the mean service time and the retry-after they give. */
  load(): SchedulerLoad {
    const meanServiceMs = this.service.ms;
    return {
      queueDepth: this.waiting.length,
      queueLimit: this.opts.maxQueue,
      batchRows: this.rowsInUse,
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
      if (!this.stopped && (this.waiting.length > 0 || this.rowsInUse > 0)) this.kick();
    });
  }

  private async run(): Promise<void> {
    while (this.waiting.length > 0 || this.rowsInUse > 0) {
      this.dropCancelled();
      try {
        this.admit();
        const trace: StepTrace = { decodeRows: 0, chunks: [] };
        const plan: StepPlan = { trace, joining: [], fed: new Set(), left: this.chunking.stepTokens - this.running.length };
        // A segmented graph (decoder.ts segmentLayers) pauses between segments: newcomers run there (letThrough).
        const between = this.chunked && this.decoder.segments > 1 ? () => this.letThrough(plan) : undefined;
        await this.prefillChunks(plan, between);
        if (this.running.length > 0) {
          trace.decodeRows = this.running.length;
          await this.decodeStep(between);
        }
        const joining = plan.joining;
        countPassedOver(this.prefilling, plan.fed);
        // Prompts held at admission (admit()) are planned from the next step on.
        for (const p of this.prefilling) p.held = false;
        for (const { seq, cache, next, buffers } of joining) {
          this.cache.add(cache);
          buffers?.release();
          this.running.push(seq);
          this.nextTokens.push(next);
        }
        if (trace.decodeRows > 0 || trace.chunks.length > 0) this.opts.onStep?.(trace);
      } catch (err) {
        // A model failure ends every request in flight with the error.
        const prefilling = this.prefilling.splice(0).map((p) => (p.buffers?.release(), p.seq));
        for (const seq of [...this.running, ...prefilling, ...this.waiting.splice(0)]) seq.fail(err);
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
    this.prefilling = this.prefilling.filter((p) => {
      if (p.seq.cancelled) {
        p.seq.cancel();
        p.buffers?.release();
      }
      return !p.seq.cancelled;
    });
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

  /** Moves waiting sequences to the prefill while the batch has room; returns how many it moved. */
  private admit(): number {
    let admitted = 0;
    const rope = this.decoder.manifest.graph.family?.rope;
    while (this.waiting.length > 0 && this.rowsInUse < this.opts.maxBatch) {
      const seq = this.waiting.shift()!;
      if (seq.cancelled) {
        seq.cancel();
        continue;
      }
      seq.admittedAt = performance.now();
      const length = seq.request.promptIds.length;
      const buffers = new RowBuffers(this.pool, this.decoder.manifest.dims, length);
      const pending = new PendingPrompt(seq, mustPrefillWhole(rope, length), buffers);
      // A prompt of more than one chunk waits for the end of this step (PendingPrompt.held).
      pending.held = length > this.chunking.chunk;
      this.prefilling.push(pending);
      admitted++;
    }
    return admitted;
  }

  /**
   * Turns of the event loop before a plan, admitting what each brought: one,
   * and more while a turn brings new requests (at most ADMIT_TURNS), since
   * a request can arrive while this thread is busy with the ones before it
   * (tokenizing a long prompt, say) and is read only in the next turn.
   */
  private async admitArrivals(): Promise<void> {
    for (let turn = 0; turn < ADMIT_TURNS; turn++) {
      await new Promise((r) => setImmediate(r));
      if (this.admit() === 0) return;
    }
  }

  /**
   * This step's prompt chunks (prefill.ts), planned one at a time: with
   * chunking on, every plan follows turns of the event loop in which the
   * requests that arrived (while the last run held the thread, or since) are
   * admitted (admitArrivals), so a short prompt sent while a long one's chunk
   * runs is prefilled in this step, before its decode run, rather than after
   * the whole step; and one sent just before the step's next run is planned
   * into it. Prompts held at admission (PendingPrompt.held) are not planned in
   * the step that admitted them. The prompts wholly prefilled go to
   * `plan.joining`, to join the batch after the decode step. `between`: see
   * letThrough.
   */
  private async prefillChunks(plan: StepPlan, between?: () => Promise<void>): Promise<void> {
    const { chunk } = this.chunking;
    for (;;) {
      if (this.chunked) await this.admitArrivals();
      const candidates = this.prefilling.filter((p) => !p.held && !plan.fed.has(p));
      // A prompt that is the only work takes bigger chunks, the budget growing by as much (prefill.ts idleGrowth).
      const grow = idleGrowth(this.chunking, plan.fed.size === 0 && this.lonePrompt);
      const next = planChunks(candidates, plan.left + grow, chunk + grow, plan.fed.size > 0, capAfter(plan.fed), this.chunking.yieldSteps)[0];
      if (!next) return;
      plan.left += grow;
      await this.feed(plan, next.prompt, next.tokens, between);
    }
  }

  /** One admitted prompt is all the work: no running row, no other prompt admitted or waiting. */
  private get lonePrompt(): boolean {
    return this.running.length === 0 && this.waiting.length === 0 && this.prefilling.length === 1;
  }

  /** Chunked prefill is on (prefill.ts): prompts are admitted, and let through, mid-step. */
  private get chunked(): boolean {
    return Number.isFinite(this.chunking.chunk);
  }

  /** The prompt chunk and step budget (prefill.ts; NO_CHUNKING when none was given). */
  private get chunking(): ChunkingOptions {
    return this.opts.chunking ?? NO_CHUNKING;
  }

  /**
   * Between two segments of a run (a prompt's chunk, or the decode run): a
   * prompt that arrived meanwhile, has not started and fits in one chunk and
   * what is left of the step's budget (with no stream running: in one idle
   * chunk, prefill.ts) runs whole now, instead of after the rest of the run
   * (a 64-token chunk of a long prompt takes 35-80 ms on random-100m here, a
   * decode run beside a 2,000-token row 25-50 ms, a 4-token prompt 15-20 ms).
   * It joins the batch with the step's other prompts. Only from the outermost
   * run: a prompt let through does not let others through in turn.
   */
  private async letThrough(plan: StepPlan): Promise<void> {
    await new Promise((r) => setImmediate(r));
    this.admit();
    // No stream runs (the paused run is a prompt's, most often a lone one's idle chunk): no cadence to
    // keep, so a newcomer of up to an idle chunk runs whole, whatever the budget (held is for decode runs).
    const idle = this.running.length === 0;
    const most = this.chunking.chunk + idleGrowth(this.chunking, idle);
    for (;;) {
      const fresh = this.prefilling.filter((p) => (idle || !p.held) && !plan.fed.has(p) && p.done === 0 && p.remaining <= most);
      const next = planChunks(fresh, idle ? Infinity : plan.left, most, true)[0];
      if (!next || next.tokens < next.prompt.remaining) return;
      await this.feed(plan, next.prompt, next.tokens, undefined, true);
    }
  }

  /** Feeds one planned chunk and books it in the step's plan (`nested`: while another run is paused). */
  private async feed(plan: StepPlan, p: PendingPrompt, tokens: number, between?: () => Promise<void>, nested = false): Promise<void> {
    plan.fed.add(p);
    plan.left -= tokens;
    const joined = await this.runChunk(p, tokens, plan.trace, between, nested);
    if (joined) plan.joining.push(joined);
  }

  /** Feeds `tokens` more of a prompt; when that was its last chunk, samples its first token and returns it to join the batch. */
  private async runChunk(p: PendingPrompt, tokens: number, trace: StepTrace, between?: () => Promise<void>, nested = false): Promise<Joining | undefined> {
    const seq = p.seq;
    const start = p.done;
    const ids = seq.request.promptIds.slice(start, start + tokens);
    const last = tokens === p.remaining;
    // A conditional row is decided in the chunk holding its last prompt token.
    const cond = seq.undecided && last ? [seq.request.steering!.layer] : undefined;
    // The row's memory is taken at its first chunk, not at admission, so a prompt held or waiting
    // costs none (row-buffers.ts; fused attention: a row with room for the whole prompt).
    if (this.decoder.fused) p.cache ??= p.buffers!.emptyRow();
    const presentInto = this.decoder.fused ? undefined : p.buffers?.presentInto(start + tokens);
    const steering = this.steeringInputs([seq], tokens, [start]);
    // Only the last chunk's last position's logits are read (a segmented graph computes no others).
    const logits = last ? "last" : "none";
    const logitsInto = this.logitsFor(this.decoder.logitsRows(1, tokens, logits), nested ? "nested" : "run");
    const out = await this.decoder.prefillChunk(ids, p.cache, { steering, cond, presentInto, logitsInto, logits, between });
    if (cond) seq.decideCondition(out.cond![cond[0]!]![tokens - 1]!);
    this.steps++;
    trace.chunks.push({ id: seq.request.id, start, tokens });
    p.done += tokens;
    p.cache = { length: p.done, keys: out.presentKeys, values: out.presentValues };
    if (p.remaining > 0) return undefined;
    this.prefilling.splice(this.prefilling.indexOf(p), 1);
    const next = seq.accept(out.logits.subarray(0, this.decoder.manifest.dims.vocabSize));
    if (next === undefined) {
      p.buffers?.release();
      this.served(seq);
      return undefined;
    }
    return { seq, cache: p.cache, next, buffers: p.buffers };
  }

  /**
   * Steering inputs for the hooked layers some row steers (other layers, and
   * unsteered rows, get gate 0). `starts[b]` is row b's first new position.
   */
  private steeringInputs(rows: Sequence[], seq: number, starts: number[]): Record<number, LayerStepInputs> | undefined {
    let out: Record<number, LayerStepInputs> | undefined;
    for (const layer of this.decoder.steerLayers) {
      const per = rows.map((s) => rowSteering(s, layer));
      if (per.every((r) => r === null)) continue;
      (out ??= {})[layer] = layerStepInputs(per, seq, starts);
    }
    return out;
  }

  private async decodeStep(between?: () => Promise<void>): Promise<void> {
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
      logitsInto: this.logitsFor(B),
      between,
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

  /** A logits buffer with room for `positions` rows of the vocabulary (from the pool when it must grow). */
  private logitsFor(positions: number, slot: keyof Scheduler["logits"] = "run"): Float32Array {
    const n = positions * this.decoder.manifest.dims.vocabSize;
    if (!fits(this.logits[slot], n)) {
      this.pool.give(this.logits[slot]);
      this.logits[slot] = this.pool.take(n);
    }
    return this.logits[slot];
  }

  /** Records how long a finished (not cancelled) request held its row. */
  private served(seq: Sequence): void {
    if (seq.cancelled || seq.admittedAt === undefined) return;
    this.service.add(performance.now() - seq.admittedAt);
  }
}

/** One step's prompt chunks so far: what ran, what joins after the decode run, and the budget left. */
interface StepPlan {
  trace: StepTrace;
  joining: Joining[];
  fed: Set<PendingPrompt>;
  left: number;
}

/** A prompt wholly prefilled this step, to join the batch after its decode step. */
interface Joining {
  seq: Sequence;
  cache: RowCache;
  next: number;
  /** Released once its cache is copied into the batch's. */
  buffers?: RowBuffers;
}

/**
 * A row's steering at `layer` now: none (not steered there, or its condition
 * failed), its condition with it while undecided, or the plain steering.
 */
function rowSteering(seq: Sequence, layer: number): RowSteering | null {
  const st = seq.request.steering;
  if (!st || st.layer !== layer || seq.condition?.steer === false) return null;
  const row: RowSteering = { features: st.features, strength: st.strength, positions: st.positions, promptLength: seq.request.promptIds.length };
  if (seq.undecided) row.condition = st.condition;
  return row;
}
