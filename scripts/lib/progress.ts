/**
 * A one-line progress bar for long offline jobs (training, evaluation).
 *
 * Writes to stderr so stdout stays machine-readable. On a terminal it redraws
 * one line; elsewhere (CI logs, pipes) it prints a plain line at most every
 * `logEveryMs` so logs stay short.
 */
export interface ProgressOptions {
  total: number;
  label?: string;
  stream?: NodeJS.WriteStream;
  logEveryMs?: number;
}

export class Progress {
  private done = 0;
  private readonly start = Date.now();
  private lastLog = 0;
  private readonly stream: NodeJS.WriteStream;
  private readonly tty: boolean;

  constructor(private readonly opts: ProgressOptions) {
    this.stream = opts.stream ?? process.stderr;
    this.tty = Boolean(this.stream.isTTY);
  }

  /** Advances by `n` and redraws; `info` is shown after the bar (e.g. "loss 0.31"). */
  tick(n = 1, info = ""): void {
    this.done = Math.min(this.opts.total, this.done + n);
    this.render(info, this.done === this.opts.total);
  }

  /** Draws the final state and ends the line. */
  finish(info = ""): void {
    this.done = this.opts.total;
    this.render(info, true);
  }

  private render(info: string, force: boolean): void {
    const now = Date.now();
    const every = this.opts.logEveryMs ?? (this.tty ? 100 : 5000);
    if (!force && now - this.lastLog < every) return;
    this.lastLog = now;
    const { total } = this.opts;
    const frac = total > 0 ? this.done / total : 1;
    const width = 24;
    const filled = Math.round(frac * width);
    const bar = "#".repeat(filled) + "-".repeat(width - filled);
    const elapsed = (now - this.start) / 1000;
    const eta = frac > 0 ? elapsed / frac - elapsed : 0;
    const label = this.opts.label ? `${this.opts.label} ` : "";
    const line = `${label}[${bar}] ${this.done}/${total} ${(frac * 100).toFixed(0)}% ${elapsed.toFixed(0)}s eta ${eta.toFixed(0)}s ${info}`.trimEnd();
    if (this.tty) this.stream.write(`\r\x1b[2K${line}${force && this.done === total ? "\n" : ""}`);
    else this.stream.write(`${line}\n`);
  }
}
