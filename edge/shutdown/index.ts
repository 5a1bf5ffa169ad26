/**
 * How the edge process stops, on every path: SIGTERM / SIGINT (stop taking
 * connections, let requests in flight finish for `grace_ms`), the grace
 * period running out, a second signal, a failed server shutdown, a fatal
 * error. Whatever the path, requests still in flight are recorded (their
 * decision events, error "shutdown: ...") and the events are flushed before
 * the process exits.
 */
import type { InflightRequests } from "./inflight.ts";

export { InflightRequests } from "./inflight.ts";

export interface ShutdownDeps {
  /** Stops accepting connections; resolves once the requests in flight are done (Deno.serve's `shutdown()`). */
  drain(): Promise<void>;
  inflight: InflightRequests;
  /** Closes the sidecar clients and flushes the events. */
  close(): Promise<void>;
  exit(code: number): void;
  log(line: string): void;
  graceMs: number;
  /** Most time close() may take before the process exits anyway (default 2000 ms). */
  closeTimeoutMs?: number;
}

export interface Shutdown {
  /** A signal: the first drains for `graceMs`, a second exits at once. */
  stop(signal: string): void;
  /** A fatal error: exit 1 now, still recording and flushing. */
  fail(err: unknown): void;
}

export function createShutdown(deps: ShutdownDeps): Shutdown {
  let stopping = false;
  const exit = once(async (code: number, reason: string) => {
    const n = deps.inflight.abandonAll(reason);
    if (n > 0) deps.log(`edge: recorded ${n} unfinished request(s) (${reason})`);
    try {
      await withTimeout(deps.close(), deps.closeTimeoutMs ?? 2_000);
    } catch (err) {
      deps.log(`edge: closing failed: ${String(err)}`);
    }
    deps.exit(code);
  });
  return {
    stop(signal) {
      if (stopping) {
        deps.log(`edge: ${signal} again, exiting now`);
        void exit(0, `shutdown: ${signal} again while shutting down`);
        return;
      }
      stopping = true;
      deps.log(`edge: ${signal}, shutting down`);
      const force = setTimeout(() => {
        deps.log(`edge: ${deps.inflight.size} request(s) still in flight after ${deps.graceMs} ms, exiting`);
        void exit(0, `shutdown: still in flight ${deps.graceMs} ms after ${signal}`);
      }, deps.graceMs);
      deps.drain().then(
        () => {
          clearTimeout(force);
          void exit(0, `shutdown: after ${signal}`);
        },
        (err) => {
          clearTimeout(force);
          deps.log(`edge: shutdown failed: ${String(err)}`);
          void exit(1, `shutdown: the server failed to stop (${String(err)})`);
        },
      );
    },
    fail(err) {
      deps.log(`edge: fatal error, exiting: ${(err as Error)?.stack ?? String(err)}`);
      void exit(1, "shutdown: fatal error in the edge");
    },
  };
}

function once<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  let done: Promise<void> | null = null;
  return (...args) => (done ??= fn(...args));
}

function withTimeout(p: Promise<void>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<void>((_, reject) => (timer = setTimeout(() => reject(new Error(`not done within ${ms} ms`)), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}
