/**
 * Engine replicas: N engines, each in its own worker thread with its own
 * onnxruntime session, behind one SidecarBackend. onnxruntime-node runs a
 * session on the calling thread and a run cannot be interrupted, so in one
 * engine a short prompt that arrives during a long prompt's chunk waits for
 * that run; with replicas it goes to another engine and runs beside it
 * (route.ts picks which). Each replica holds its own copy of the weights and
 * its own batch: for a CPU host with cores to spare and a model small enough
 * to load twice (README, Latency). The main thread keeps gRPC and routing.
 *
 * A replica that crashes fails its own requests and is started again. One
 * that holds requests and sends nothing for `hangMs` (a model run that does
 * not end; onnxruntime-node cannot stop one, and ending the thread inside it
 * would take the process down) is taken out: its requests fail with
 * UNAVAILABLE, nothing more is sent to it, and the health turns NOT_SERVING
 * when no replica is left. Should it speak again, it is closed between two
 * of its runs and started afresh.
 */
import { availableParallelism } from "node:os";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { status } from "@grpc/grpc-js";
import { InfoResponse, SidecarLoad, type GenerateChunk, type GenerateRequest, type ProbeRequest, type ProbeResponse } from "../../proto/gen/steerguard/v1/sidecar.ts";
import { Channel } from "../engine/channel.ts";
import type { StepTrace } from "../engine/prefill.ts";
import { SidecarError, type SidecarBackend } from "../server/backend.ts";
import type { MetricsSource, PoolMemory } from "../server/metrics.ts";
import { replicaOptions, type FromReplica, type ReplicaEngineOptions, type ReplicaInit, type ReplicaStats, type ToReplica, type WireError } from "./protocol.ts";
import { pickReplica, promptChars, PromptSizer, type ReplicaWork } from "./route.ts";

export interface ReplicaSetOptions {
  /** How many engines (>= 1). */
  replicas: number;
  /** Engine options for each (intraOpThreads 0 or absent: the cores shared out, at least 1 each). */
  engine: ReplicaEngineOptions;
  /** Called with every step each replica runs (benchmarks, tests). */
  onStep?: (trace: StepTrace, replica: number) => void;
  /** Where replica warnings go (default stderr). */
  log?: (line: string) => void;
  /** A replica holding requests that sends nothing for this long is taken out (default DEFAULT_HANG_MS; 0: never). */
  hangMs?: number;
}

/** The default hangMs: far above any step of a chunked prefill, so only a run that does not end trips it. */
export const DEFAULT_HANG_MS = 60_000;

/** The worker's first module: boot.mjs beside this file (it loads worker.ts through tsx), or the bundle's (deploy/images: dist/replica-worker.mjs). */
function workerEntry(): URL {
  const boot = new URL("./boot.mjs", import.meta.url);
  return existsSync(fileURLToPath(boot)) ? boot : new URL("./replica-worker.mjs", import.meta.url);
}

const rebuild = (e: WireError) => new SidecarError(e.code as status, e.message, e.metadata);

interface Pending {
  chunks?: Channel<GenerateChunk>;
  probe?: { resolve: (r: ProbeResponse) => void; reject: (e: unknown) => void };
  chars: number;
  started: boolean;
}

/** One worker and what the main thread knows of it. */
class Replica implements ReplicaWork {
  pendingPromptChars = 0;
  inFlight = 0;
  dead = false;
  /** Taken out for sending nothing while it held requests (ReplicaSet's watchdog). */
  hung = false;
  /** When its worker last sent anything (performance.now()). */
  lastHeard = performance.now();
  stats: ReplicaStats | undefined;
  readonly pending = new Map<number, Pending>();

  constructor(
    readonly worker: Worker,
    private readonly sizer: PromptSizer,
  ) {}

  get pendingPromptTokens(): number {
    return this.sizer.tokensOf(this.pendingPromptChars);
  }

  get saturated(): boolean {
    return this.stats?.load.saturated ?? false;
  }

  get maxBatch(): number {
    return this.stats?.load.maxBatch || Infinity;
  }

  send(m: ToReplica): void {
    this.worker.postMessage(m);
  }

  /** A request's first answer, or its end: its prompt no longer waits. */
  started(p: Pending): void {
    if (p.started) return;
    p.started = true;
    this.pendingPromptChars -= p.chars;
  }

  finish(id: number): Pending | undefined {
    const p = this.pending.get(id);
    if (!p) return undefined;
    this.started(p);
    this.pending.delete(id);
    this.inFlight--;
    return p;
  }

  /** Routes a message of its worker to the request it answers. */
  receive(m: FromReplica): void {
    switch (m.type) {
      case "stats":
        this.stats = m.stats;
        return;
      case "chunk": {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.started(p);
        const usage = m.chunk.finish?.usage;
        if (usage) this.sizer.learn(p.chars, usage.promptTokens);
        p.chunks?.push(m.chunk);
        return;
      }
      case "end":
        this.stats = m.stats;
        this.finish(m.id)?.chunks?.close();
        return;
      case "error": {
        this.stats = m.stats;
        const p = this.finish(m.id);
        p?.chunks?.close(rebuild(m.error));
        p?.probe?.reject(rebuild(m.error));
        return;
      }
      case "probed":
        this.finish(m.id)?.probe?.resolve(m.response);
        return;
    }
  }

  /** Fails every request in flight (the worker died). */
  failAll(error: SidecarError): void {
    for (const id of [...this.pending.keys()]) {
      const p = this.finish(id)!;
      p.chunks?.close(error);
      p.probe?.reject(error);
    }
  }
}

interface Spawn {
  entry: URL;
  sizer: PromptSizer;
  init: ReplicaInit;
  onStep?: ReplicaSetOptions["onStep"];
  log: (line: string) => void;
  /** Told when the worker stops after it had loaded (a crash: the set starts it again). */
  exited: (code: number) => void;
  /** Told of every message after the load (the set's watchdog). */
  heard: () => void;
}

/** What a replica reports once its engine has loaded. */
type Loaded = Pick<Extract<FromReplica, { type: "ready" }>, "info" | "device" | "segments" | "graphLayout">;

/** Starts one replica's worker; `ready` settles once its engine has loaded, or failed to. */
function spawn({ entry, sizer, init, onStep, log, exited, heard }: Spawn): { replica: Replica; ready: Promise<Loaded> } {
  const worker = new Worker(entry, { workerData: init, stderr: false });
  const r = new Replica(worker, sizer);
  const index = init.index;
  let loaded = false;
  const ready = new Promise<Loaded>((resolve, reject) => {
    worker.on("message", (m: FromReplica) => {
      r.lastHeard = performance.now();
      if (loaded) heard();
      if (m.type === "ready") {
        r.stats = m.stats;
        loaded = true;
        resolve({ info: m.info, device: m.device, segments: m.segments, graphLayout: m.graphLayout });
      } else if (m.type === "failed") reject(new Error(`replica ${index}: ${m.error}`));
      else if (m.type === "step") onStep?.(m.trace, index);
      else r.receive(m);
    });
    worker.on("error", (err) => {
      log(`sidecar: replica ${index} failed: ${err.message}`);
      reject(err);
    });
    worker.on("exit", (code) => {
      r.dead = true;
      r.failAll(new SidecarError(status.UNAVAILABLE, `replica ${index} stopped (exit code ${code})`));
      if (loaded) exited(code);
      else reject(new Error(`replica ${index} exited with code ${code} while loading`));
    });
  });
  return { replica: r, ready };
}

/** Cancels a live replica's requests, closes its engine and waits for its thread to end. */
function closeReplica(r: Replica): Promise<void> {
  if (r.dead) return Promise.resolve();
  return new Promise<void>((resolve) => {
    r.worker.once("exit", () => resolve());
    r.send({ type: "close" });
  });
}

/** How long after a replica's crash it is started again. */
const RESTART_DELAY_MS = 1_000;

export class ReplicaSet implements SidecarBackend, MetricsSource {
  private nextId = 1;
  private closing = false;
  private restarted = 0;
  private readonly restarts = new Set<NodeJS.Timeout>();
  private watchdog: NodeJS.Timeout | undefined;

  private constructor(
    private readonly replicas: Replica[],
    private readonly first: InfoResponse,
    readonly device: string,
    /** Graphs a model run goes through in each replica (Engine.segments), and the start-up log's words for it. */
    readonly segments: number,
    readonly graphLayout: string,
    /** Intra-op threads of each replica's session. */
    readonly threads: number,
    private readonly spawnAgain: (index: number) => ReturnType<typeof spawn>,
    private readonly log: (line: string) => void,
  ) {}

  static async load(modelDir: string, opts: ReplicaSetOptions): Promise<ReplicaSet> {
    if (!Number.isSafeInteger(opts.replicas) || opts.replicas < 1) throw new Error(`replicas must be a whole number >= 1, got ${opts.replicas}`);
    const threads = opts.engine.intraOpThreads || Math.max(1, Math.floor(availableParallelism() / opts.replicas));
    const entry = workerEntry();
    const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
    let set: ReplicaSet | undefined;
    const sizer = new PromptSizer();
    const start = (index: number) =>
      spawn({
        entry,
        sizer,
        init: { modelDir, index, options: { ...replicaOptions(opts.engine), intraOpThreads: threads }, traceSteps: opts.onStep !== undefined },
        onStep: opts.onStep,
        log,
        exited: (code) => set?.restart(index, code),
        heard: () => set?.heard(index),
      });
    const started = Array.from({ length: opts.replicas }, (_, i) => start(i));
    try {
      const loaded = await Promise.all(started.map((s) => s.ready));
      const { info, device, segments, graphLayout } = loaded[0]!;
      set = new ReplicaSet(started.map((s) => s.replica), info, device, segments, graphLayout, threads, start, log);
      set.watch(opts.hangMs ?? DEFAULT_HANG_MS);
      return set;
    } catch (err) {
      // Those that loaded are closed as on shutdown (terminating a thread inside a model run or a
      // session's creation would take the process down with it).
      await Promise.allSettled(started.map((s) => s.ready));
      await Promise.all(started.map((s) => closeReplica(s.replica)));
      throw err;
    }
  }

  /**
   * A replica stopped after it had loaded (a bug or out of memory in its
   * thread): its requests have failed with UNAVAILABLE, the others take new
   * ones, and it is started again.
   */
  private restart(index: number, code: number): void {
    if (this.closing) return;
    this.notifyServing();
    this.log(`sidecar: replica ${index} stopped (exit code ${code}); starting it again in ${RESTART_DELAY_MS} ms`);
    const timer = setTimeout(() => {
      this.restarts.delete(timer);
      this.restarted++;
      const next = this.spawnAgain(index);
      next.ready.then(
        () => {
          if (this.closing) return void closeReplica(next.replica);
          this.replicas[index] = next.replica;
          this.log(`sidecar: replica ${index} serving again`);
          this.notifyServing();
        },
        (err: Error) => this.log(`sidecar: replica ${index} did not start again (${err.message}); the others serve`),
      );
    }, RESTART_DELAY_MS);
    this.restarts.add(timer);
  }

  private hangMs = 0;

  /** Checks, a few times per `hangMs`, for replicas that hold requests and have sent nothing for that long. */
  private watch(hangMs: number): void {
    if (!(hangMs > 0)) return;
    this.hangMs = hangMs;
    this.watchdog = setInterval(() => this.checkSilence(performance.now()), Math.min(1_000, hangMs / 4));
    this.watchdog.unref();
  }

  /** Takes out each live replica that holds requests and has sent nothing for hangMs (as of `now`). */
  private checkSilence(now: number): void {
    this.replicas.forEach((r, i) => {
      if (!r.dead && r.inFlight > 0 && now - r.lastHeard > this.hangMs) this.takeOut(i, now - r.lastHeard);
    });
  }

  /** A replica that stopped answering: its requests fail, and nothing more goes to it. */
  private takeOut(index: number, silentMs: number): void {
    const r = this.replicas[index]!;
    r.dead = true;
    r.hung = true;
    // Its thread may be inside a model run for good: it must not keep the process from exiting.
    r.worker.unref();
    const s = (silentMs / 1000).toFixed(1);
    r.failAll(new SidecarError(status.UNAVAILABLE, `replica ${index} sent nothing for ${s} s while it held requests (a model run that does not end); it serves no more`));
    this.log(`sidecar: replica ${index} sent nothing for ${s} s while it held requests; taken out (its requests failed)`);
    this.notifyServing();
  }

  /** Any message from replica `index`: one taken out for silence is closed between two runs, then started again. */
  private heard(index: number): void {
    const r = this.replicas[index]!;
    if (!r.hung || this.closing) return;
    r.hung = false;
    r.worker.ref();
    this.log(`sidecar: replica ${index}, taken out for silence, answers again; closing it to start it afresh`);
    r.send({ type: "close" });
  }

  get size(): number {
    return this.replicas.length;
  }

  private readonly servingListeners: ((serving: boolean) => void)[] = [];
  private serving = true;

  /** Told when the last live replica stops, and when one serves again (the server's health). */
  onServing(listener: (serving: boolean) => void): void {
    this.servingListeners.push(listener);
  }

  private notifyServing(): void {
    const serving = this.replicas.some((r) => !r.dead);
    if (serving === this.serving) return;
    this.serving = serving;
    for (const l of this.servingListeners) l(serving);
  }

  private pick(): Replica {
    const i = pickReplica(this.replicas);
    if (i < 0) throw new SidecarError(status.UNAVAILABLE, "every engine replica has stopped");
    return this.replicas[i]!;
  }

  /** Sends a request to a replica and registers what will answer it. */
  private dispatch(r: Replica, p: Pending, m: ToReplica & { id: number }): void {
    // An idle replica's silence counts from when it gets work, not from its last answer.
    if (r.inFlight === 0) r.lastHeard = performance.now();
    r.pending.set(m.id, p);
    r.inFlight++;
    r.pendingPromptChars += p.chars;
    r.send(m);
  }

  info(): InfoResponse {
    return InfoResponse.fromPartial({ ...this.first, load: this.load() });
  }

  async *generate(request: GenerateRequest, signal: AbortSignal): AsyncIterable<GenerateChunk> {
    const r = this.pick();
    const id = this.nextId++;
    const chunks = new Channel<GenerateChunk>();
    this.dispatch(r, { chunks, chars: promptChars(request.input), started: false }, { type: "generate", id, request });
    const abort = () => r.send({ type: "abort", id });
    signal.addEventListener("abort", abort, { once: true });
    try {
      yield* chunks;
    } finally {
      signal.removeEventListener("abort", abort);
      // The consumer stopped early (cancelled, or the server is closing): the replica stops too.
      if (r.pending.has(id)) abort();
    }
  }

  probe(request: ProbeRequest, signal: AbortSignal): Promise<ProbeResponse> {
    if (signal.aborted) return Promise.reject(new SidecarError(status.CANCELLED, "cancelled by the caller"));
    const r = this.pick();
    const id = this.nextId++;
    return new Promise((resolve, reject) => this.dispatch(r, { probe: { resolve, reject }, chars: promptChars(request.input), started: false }, { type: "probe", id, request }));
  }

  /** The replicas' queues together: depths, limits and rows summed; saturated when every live one is. */
  load(): SidecarLoad {
    const live = this.replicas.filter((r) => !r.dead && r.stats);
    const loads = live.map((r) => r.stats!.load);
    const sum = (f: (l: SidecarLoad) => number) => loads.reduce((n, l) => n + f(l), 0);
    return SidecarLoad.fromPartial({
      queueDepth: sum((l) => l.queueDepth),
      queueLimit: sum((l) => l.queueLimit),
      batchRows: sum((l) => l.batchRows),
      maxBatch: sum((l) => l.maxBatch),
      meanServiceMs: loads.length ? sum((l) => l.meanServiceMs) / loads.length : 0,
      retryAfterMs: loads.length ? Math.min(...loads.map((l) => l.retryAfterMs)) : 0,
      saturated: loads.length === 0 || loads.every((l) => l.saturated),
    });
  }

  /** Replicas serving now, and restarts begun since the start (metrics). */
  get replicaCounts(): { live: number; restarts: number } {
    return { live: this.replicas.filter((r) => !r.dead).length, restarts: this.restarted };
  }

  get refusedTotal(): number {
    return this.replicas.reduce((n, r) => n + (r.stats?.refusedTotal ?? 0), 0);
  }

  get memory(): PoolMemory {
    const m = { keptBytes: 0, reservedBytes: 0, allocatedBytes: 0 };
    for (const r of this.replicas) {
      if (!r.stats) continue;
      m.keptBytes += r.stats.memory.keptBytes;
      m.reservedBytes += r.stats.memory.reservedBytes;
      m.allocatedBytes += r.stats.memory.allocatedBytes;
    }
    return m;
  }

  /** Stops every replica: in-flight requests are cancelled, then each engine is closed and its thread ends. */
  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.watchdog);
    for (const t of this.restarts) clearTimeout(t);
    this.restarts.clear();
    await Promise.all(this.replicas.map(closeReplica));
  }
}
