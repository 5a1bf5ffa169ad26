/**
 * A case's bookkeeping: every request's outcome with the reason it was
 * unexpected (if it was), checks that are not about one request, and the
 * row the case reports (events checked against the edge's file here).
 */
import { brief, type Outcome } from "./client.ts";
import { checkEvents } from "./events.ts";
import type { CaseContext, CaseRow, Goal, ShedFigures } from "./types.ts";

export class Tally {
  readonly outcomes: Outcome[] = [];
  /** Unexpected requests: "id: what it did — what was expected". */
  readonly failed: string[] = [];
  readonly goals: Goal[] = [];
  readonly notes: string[] = [];
  readonly details: Record<string, unknown> = {};
  /** Failed checks that are not one request (counted as failures too). */
  private checkFailures = 0;
  private readonly t0 = Date.now();

  constructor(
    readonly name: string,
    readonly fault: string,
  ) {}

  /**
   * Records an outcome; `expected` gives null when it behaved as it should,
   * else what was expected. A hang is always a failure.
   */
  add(o: Outcome, expected: (o: Outcome) => string | null): Outcome {
    this.outcomes.push(o);
    const why = o.end === "hang" ? `an answer within ${Math.round(o.ms)} ms` : expected(o);
    if (why) this.failed.push(`${brief(o)}; expected ${why}`);
    return o;
  }

  /** Records a goal (a check beyond single requests); a missed one counts as a failure. */
  goal(name: string, ok: boolean, detail?: string): boolean {
    this.goals.push({ name, ok, ...(detail ? { detail } : {}) });
    if (!ok) this.checkFailures++;
    return ok;
  }

  note(line: string): void {
    this.notes.push(line);
  }

  /** Checks the events file and builds the row. */
  async row(ctx: CaseContext, extra: { recoveryMs?: number | null; shed?: ShedFigures | null } = {}): Promise<CaseRow> {
    const outcomes = this.outcomes;
    const ev = await checkEvents(ctx.stack.eventsPath, outcomes);
    const failed = this.failed;
    const hangs = outcomes.filter((o) => o.end === "hang").length;
    const goals: Goal[] = [
      ...this.goals,
      { name: "every request behaved as expected", ok: failed.length === 0, ...(failed.length ? { detail: failed.slice(0, 5).join(" | ") } : {}) },
      { name: "no request hung", ok: hangs === 0 },
      { name: "an event for every request that reached routing", ok: ev.lost.length === 0, ...(ev.lost.length ? { detail: `missing: ${ev.lost.slice(0, 5).join(", ")}` } : {}) },
    ];
    if (ev.duplicated.length) goals.push({ name: "one event per request", ok: false, detail: `duplicated: ${ev.duplicated.slice(0, 5).join(", ")}` });
    // The event's status should say what the client saw.
    const disagree = outcomes.filter((o) => {
      const e = ev.byId.get(o.id)?.[0];
      if (!e) return false;
      if (o.end === "done" || o.end === "json") return e.status !== o.status;
      if (o.end === "error-frame") return e.status < 500;
      if (o.end === "aborted") return e.status !== 499 && e.status !== 200;
      return false;
    });
    if (disagree.length) {
      goals.push({
        name: "events record what the client saw",
        ok: false,
        detail: disagree
          .slice(0, 5)
          .map((o) => `${o.id}: client ${o.status} ${o.end}, event ${ev.byId.get(o.id)![0].status} ${ev.byId.get(o.id)![0].error ?? ""}`)
          .join(" | "),
      });
    }
    return {
      case: this.name,
      fault: this.fault,
      requests: outcomes.length,
      failures: failed.length + this.checkFailures + ev.duplicated.length + disagree.length,
      hangs,
      eventsLost: ev.lost.length,
      recoveryMs: extra.recoveryMs ?? null,
      shed: extra.shed ?? null,
      goals,
      notes: this.notes,
      details: { ...this.details, ...(failed.length ? { failed } : {}) },
      durationMs: Date.now() - this.t0,
      pass: goals.every((g) => g.ok),
    };
  }
}

// Expectations shared by the cases: each returns null when met, else what was expected.

/** A model answer: 200 and a finished JSON body or a stream ended by [DONE]. */
export const answered = (o: Outcome) => (o.status === 200 && (o.end === "done" || (o.end === "json" && o.finishReason !== null)) ? null : "200 with a finished answer");

/** 503 (or 429) with retry-after. */
export const shedWithRetry = (o: Outcome) => ((o.status === 503 || o.status === 429) && o.retryAfter ? null : "429/503 with retry-after");

/** The edge's fail-closed refusal. */
export const refused = (o: Outcome) => (o.status === 200 && o.finishReason === "content_filter" ? null : "200 content_filter refusal");

/** Any of the given expectations. */
export const anyOf =
  (...ex: Array<(o: Outcome) => string | null>) =>
  (o: Outcome) => {
    const whys = ex.map((e) => e(o));
    return whys.includes(null) ? null : whys.join(" or ");
  };

/** A stream that ended properly: [DONE] or an error event, never cut silently. */
export const streamEnded = (o: Outcome) => (o.status === 200 && (o.end === "done" || o.end === "error-frame") ? null : "a stream ended by [DONE] or an error event");

/** A 4xx in the OpenAI error shape, optionally naming `param`. */
export const clientError = (status: number, param?: string) => (o: Outcome) =>
  o.status === status && o.error && (param === undefined || o.error.param === param) ? null : `${status}${param ? ` naming ${param}` : ""}`;

/** ms → "0.42 s". */
export const secs = (ms: number | null | undefined) => (ms === null || ms === undefined ? "-" : `${(ms / 1000).toFixed(2)} s`);
