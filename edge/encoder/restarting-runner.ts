/**
 * A SessionRunner that starts its worker again when it dies (worker-runner.ts
 * reports a death through `died`). Until the new one has loaded, runs fail at
 * once, so the gate's first stage decides those prompts
 * (edge/risk/index.ts) rather than the second stage staying off for the
 * rest of the process's life.
 *
 * Restarts back off: the first after `minDelayMs`; a worker that dies again
 * within `stableMs` of starting, or fails to start, doubles the delay, up to
 * `maxDelayMs`. A worker that ran `stableMs` resets it.
 *
 * A worker that hangs (HungError: a run went unanswered, worker-runner.ts)
 * cannot always be stopped: its thread may be left running, holding its
 * memory and, if it spins, a core. So after `maxHung` of them no more are
 * started, and the second stage stays off (logged; /readyz warns) until the
 * edge restarts.
 */
import { unrefTimer } from "../../proto/tls.ts";
import type { SessionRunner } from "./onnx-session.ts";

/** A runner's death by a run that never answered (the runner may be left running). */
export class HungError extends Error {
  override name = "HungError";
}

/** A runner that can die on its own (a worker), and says so once. */
export interface MortalRunner extends SessionRunner {
  /** Resolves with the cause when the runner dies; never when it is released. */
  readonly died: Promise<Error>;
}

export interface RestartOptions {
  minDelayMs?: number;
  maxDelayMs?: number;
  stableMs?: number;
  /** Hung runners (HungError) after which none is started again. */
  maxHung?: number;
  /** Told of every death, failed start and restart. */
  log?: (msg: string) => void;
  now?: () => number;
}

export const RESTART_DEFAULTS = { minDelayMs: 1_000, maxDelayMs: 60_000, stableMs: 60_000, maxHung: 3 } as const;

export class RestartingRunner implements SessionRunner {
  private current: MortalRunner | undefined;
  private startedAt = 0;
  private delayMs: number;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private released = false;
  /** Restarts so far (tests, logs). */
  restarts = 0;
  /** Runners that hung so far. */
  hung = 0;
  /** maxHung runners have hung: none is started again. */
  private givenUp = false;
  private readonly o: Required<Omit<RestartOptions, "log">> & Pick<RestartOptions, "log">;

  private constructor(
    private readonly start: () => Promise<MortalRunner>,
    opts: RestartOptions,
  ) {
    this.o = { ...RESTART_DEFAULTS, now: () => performance.now(), ...opts };
    this.delayMs = this.o.minDelayMs;
  }

  /** Starts the first runner (its failure is the caller's: nothing is retried before it has run once). */
  static async create(start: () => Promise<MortalRunner>, opts: RestartOptions = {}): Promise<RestartingRunner> {
    const r = new RestartingRunner(start, opts);
    r.adopt(await start());
    return r;
  }

  get up(): boolean {
    return this.current?.up ?? false;
  }

  /** The runner up now; undefined while a dead one is being replaced. */
  get runner(): MortalRunner | undefined {
    return this.current;
  }

  run(seqs: number[][]): Promise<Float32Array[]> {
    if (!this.current) return Promise.reject(new Error(this.released ? "encoder released" : this.givenUp ? `encoder worker not started again (${this.hung} hung)` : "encoder worker restarting"));
    return this.current.run(seqs);
  }

  async release(): Promise<void> {
    this.released = true;
    clearTimeout(this.timer);
    const r = this.current;
    this.current = undefined;
    await r?.release();
  }

  private adopt(r: MortalRunner): void {
    this.current = r;
    this.startedAt = this.o.now();
    void r.died.then((err) => this.onDeath(r, err));
  }

  private onDeath(r: MortalRunner, err: Error): void {
    if (this.released || this.current !== r) return;
    this.current = undefined;
    void r.release().catch(() => undefined);
    if (err instanceof HungError && ++this.hung >= this.o.maxHung) {
      this.givenUp = true;
      this.o.log?.(`edge: encoder worker died (${err.message}); ${this.hung} have hung, so none is started again: the first stage decides until the edge restarts`);
      return;
    }
    if (this.o.now() - this.startedAt >= this.o.stableMs) this.delayMs = this.o.minDelayMs;
    this.o.log?.(`edge: encoder worker died (${err.message}); starting another in ${this.delayMs} ms, the first stage decides meanwhile`);
    this.schedule();
  }

  private schedule(): void {
    const wait = this.delayMs;
    this.delayMs = Math.min(this.delayMs * 2, this.o.maxDelayMs);
    this.timer = setTimeout(() => void this.restart(), wait);
    unrefTimer(this.timer);
  }

  private async restart(): Promise<void> {
    let r: MortalRunner;
    try {
      r = await this.start();
    } catch (err) {
      if (this.released) return;
      this.o.log?.(`edge: encoder worker failed to start (${(err as Error).message}); trying again in ${this.delayMs} ms`);
      return this.schedule();
    }
    if (this.released) return void r.release().catch(() => undefined);
    this.restarts++;
    this.adopt(r);
    this.o.log?.(`edge: encoder worker started again (restart ${this.restarts}); the second stage decides again`);
  }
}
