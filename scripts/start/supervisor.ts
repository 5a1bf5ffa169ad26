/**
 * Supervision for `npm start` (scripts/start.ts): the restart policy of a
 * crashed child, and noticing that whoever launched us is gone.
 */
import { readFileSync } from "node:fs";

export interface RestartPolicy {
  /** Delay before the first restart; it doubles with each failure in a row. */
  initialDelayMs: number;
  maxDelayMs: number;
  /** A child that served this long before it exited starts a fresh count. */
  stableAfterMs: number;
  /** Restarts in a row (none stable) before giving up. */
  maxRestarts: number;
}

/** 0.5 s, 1, 2, 4, 8, 10 s, then give up; reset after 30 s of service. */
export const DEFAULT_RESTART_POLICY: RestartPolicy = { initialDelayMs: 500, maxDelayMs: 10_000, stableAfterMs: 30_000, maxRestarts: 6 };

/** Exponential backoff over a child's failures in a row. */
export class RestartBackoff {
  private failures = 0;
  constructor(readonly policy: RestartPolicy = DEFAULT_RESTART_POLICY) {}

  /** The child exited after serving `upMs` (0 if it never got ready): the delay before restarting it, or null to give up. */
  next(upMs: number): number | null {
    if (upMs >= this.policy.stableAfterMs) this.failures = 0;
    if (this.failures >= this.policy.maxRestarts) return null;
    return Math.min(this.policy.maxDelayMs, this.policy.initialDelayMs * 2 ** this.failures++);
  }
}

/** How a child exited, for messages: "code 1" or "signal SIGKILL". */
export function exitText(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `signal ${signal}` : `code ${code}`;
}

/** The parent of `pid` (from Linux's /proc), or null where that cannot be read. */
export function parentOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return null;
  }
}

/** Processes that only run another and outlive their own parent: `sh -c CMD` and the tsx CLI. */
const WRAPPER = /^(\S*\/)?(sh|dash|bash) -c |\/tsx(\/dist\/cli\.mjs)? /;

function isWrapper(pid: number): boolean {
  try {
    return WRAPPER.test(readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " "));
  } catch {
    return false;
  }
}

/**
 * Calls `onGone` once the process that launched us is gone: our parent, or,
 * through wrappers, theirs. `npm start` runs npm -> sh -c -> tsx -> us; npm
 * forwards SIGTERM to that sh only, which dies without passing it on, and
 * SIGKILL to npm leaves sh waiting: either way a link of the chain is
 * reparented, and we notice within `intervalMs`.
 */
export function watchLauncher(onGone: () => void, intervalMs = 500): void {
  const chain = [process.ppid];
  while (chain.length < 5 && isWrapper(chain.at(-1)!)) {
    const up = parentOf(chain.at(-1)!);
    if (up === null) break;
    chain.push(up);
  }
  const timer = setInterval(() => {
    if (process.ppid === chain[0] && chain.slice(1).every((up, i) => parentOf(chain[i]!) === up)) return;
    clearInterval(timer);
    onGone();
  }, intervalMs);
  timer.unref();
}
