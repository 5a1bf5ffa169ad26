/**
 * Decision events: one JSON line per chat request, written when the request
 * is done (including failures). Prompt and completion text appear only when
 * `events.include_text` is on.
 */
import { createWriteStream, mkdirSync, type WriteStream } from "node:fs";
import { dirname } from "node:path";
import type { Route, SteeringChoice } from "../routing/index.ts";

export interface DecisionEvent {
  /** ISO time the request arrived. */
  ts: string;
  request_id: string;
  /** The OpenAI endpoint the request came to: "chat.completions", "responses" or "completions". */
  endpoint: string;
  key_id: string;
  model: string;
  stream: boolean;
  experiment: string;
  arm: string;
  policy: string;
  /** "conditional": the arm's condition band held the risk; the sidecar's condition decided (see `condition`). */
  route: Route;
  risk: number;
  /** Which gate stage decided the risk: "classifier" (first stage) or "encoder" (the second stage, config classifier.second_stage). */
  risk_stage: "classifier" | "encoder";
  threshold: number | null;
  /** The arm's condition band [low, high) (null: none); with one, `threshold` is its high. */
  condition_band: { low: number; high: number } | null;
  /** Steering sent to the sidecar (null: none); `conditional: true` on the conditional route. */
  steering: SteeringChoice | null;
  /** Who answered: "sidecar", "upstream", "edge" (blocked or fail-closed refusal), "none" (error). */
  backend: "sidecar" | "upstream" | "edge" | "none";
  sidecar: string | null;
  status: number;
  finish_reason: string | null;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  /**
   * Milliseconds: classify = the risk classifier; first_token = arrival to the
   * first generated chunk; backend = from calling the sidecar (or upstream) to
   * its last chunk; total = arrival to the last byte handed to the client.
   * total - backend is the time the edge itself added.
   */
  latency: { classify: number; first_token: number | null; backend: number | null; total: number };
  /** What went wrong, if anything: e.g. "timeout: ...", "client_disconnect". */
  error: string | null;
  /** Set when the failure policy answered instead of the model: "refuse", "503", "upstream". */
  fallback: string | null;
  /** The sidecar's word on whether its steering hook was active (null: no sidecar answer). */
  steering_applied: boolean | null;
  /**
   * Conditional route: what the sidecar's in-model condition decided at the
   * last prompt token (its first chunk): value, the threshold it was compared
   * with, and steer = value >= threshold. null: not conditional, or no answer.
   */
  condition: { value: number; threshold: number; steer: boolean } | null;
  /**
   * Conditional route only, and only when the request was not sent
   * conditional: why. "profile has no condition: steered": a healthy
   * sidecar's Info lists the arm's profile without a condition (the sidecar
   * would refuse a conditional request), so it was sent as a plain steered
   * request (`steering` without `conditional`; `condition` null). Absent
   * otherwise (and in events from before it existed).
   */
  condition_fallback?: string;
  /**
   * System and developer messages the gate did not score because the operator
   * trusts them (config classifier.trusted_system_prompts, or the key's
   * trust_system_prompt; edge/risk/trusted.ts). Absent when none was.
   */
  trusted_system?: number;
  /**
   * Assistant turns the gate scored as client text because this edge did not
   * serve them (config classifier.assistant_turns "unserved"; edge/risk/served.ts).
   * Absent when none was.
   */
  unserved_assistant?: number;
  prompt?: unknown;
  completion?: string;
}

/**
 * What happened to a conditional request, as metrics and ab-report count it:
 * the condition steered or let it pass, it was sent steered because the
 * profile has no condition (unavailable), or no outcome came (none: the
 * sidecar failed first; also events from before the condition existed).
 */
export function conditionLabel(ev: Partial<Pick<DecisionEvent, "condition" | "condition_fallback">>): "steer" | "pass" | "unavailable" | "none" {
  if (ev.condition) return ev.condition.steer ? "steer" : "pass";
  return ev.condition_fallback ? "unavailable" : "none";
}

export interface EventSink {
  write(event: DecisionEvent): void;
  close(): Promise<void>;
}

export class NullSink implements EventSink {
  write(): void {}
  async close(): Promise<void> {}
}

/** Keeps events in memory (tests). */
export class MemorySink implements EventSink {
  readonly events: DecisionEvent[] = [];
  write(e: DecisionEvent): void {
    this.events.push(e);
  }
  async close(): Promise<void> {}
}

/** Appends JSON lines to a file, or to stdout for "-". */
export class JsonlSink implements EventSink {
  private readonly out: WriteStream | null;
  private failed = false;
  constructor(path: string, onError: (err: Error) => void = (err) => console.error(`edge: events: ${err.message}`)) {
    if (path === "-") {
      this.out = null;
      return;
    }
    mkdirSync(dirname(path), { recursive: true });
    this.out = createWriteStream(path, { flags: "a" });
    // A full disk or a removed directory must not take the edge down.
    this.out.on("error", (err) => {
      if (!this.failed) onError(err);
      this.failed = true;
    });
  }
  /**
   * Events wait in memory and go out together, encoded and written in one
   * go at most FLUSH_MS later (at once past MAX_PENDING). An event is recorded
   * just before the answer is handed to the HTTP server, so neither the JSON
   * encoding nor the file write may sit in the answer's turn (a write there
   * delayed the answer's bytes, measured with `npm run bench:edge`); one timer
   * and one write for many requests also saved ~0.14 ms of CPU per request
   * against a timer and a write per request. Events are not changed after
   * they are recorded, so encoding them later writes the same line.
   */
  static readonly FLUSH_MS = 50;
  static readonly MAX_PENDING = 512;
  private pending: DecisionEvent[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  write(e: DecisionEvent): void {
    if (this.out && this.failed) return;
    this.pending.push(e);
    if (this.pending.length >= JsonlSink.MAX_PENDING) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), JsonlSink.FLUSH_MS);
  }
  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.pending.length === 0) return;
    let text = "";
    for (const e of this.pending) text += JSON.stringify(e) + "\n";
    this.pending = [];
    if (this.out) {
      if (!this.failed) this.out.write(text);
    } else console.log(text.slice(0, -1));
  }
  close(): Promise<void> {
    this.flush();
    const out = this.out;
    if (!out || this.failed) return Promise.resolve();
    return new Promise((resolve) => out.end(() => resolve()));
  }
}

export function openSink(path: string | undefined): EventSink {
  return path ? new JsonlSink(path) : new NullSink();
}
