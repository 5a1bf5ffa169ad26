/**
 * A case's bookkeeping: every request's outcome with the reason it was
 * unexpected (if it was), checks that are not about one request, and the
 * row the case reports (events checked against the edge's file here).
 *
 * Every outcome is held to more than its case's expectation: the route the
 * edge reports must be the one the suite expects for the prompt (routes.ts),
 * and the answer must be in its endpoint's wire format (wire.ts, with the
 * fuzzer's checks): a well-formed body or stream, or an OpenAI error shape.
 * The row counts requests, failures and hangs per endpoint too.
 */
import type { DecisionEvent } from "../../edge/events/index.ts";
import { brief, type Outcome } from "./client.ts";
import { checkEvents } from "./events.ts";
import { FAILS_CLOSED, ROUTES, type Route } from "./routes.ts";
import type { CaseContext, CaseRow, EndpointCounts, Goal, ShedFigures } from "./types.ts";
import { UPSTREAM_TEXT } from "./upstream.ts";
import { ENDPOINTS, EVENT_ENDPOINT, wireProblem, type Endpoint } from "./wire.ts";

export class Tally {
  readonly outcomes: Outcome[] = [];
  /** Unexpected requests: "id: what it did — what was expected". */
  readonly failed: string[] = [];
  readonly goals: Goal[] = [];
  readonly notes: string[] = [];
  readonly details: Record<string, unknown> = {};
  /** Failed checks that are not one request (counted as failures too). */
  private checkFailures = 0;
  private readonly failedIds = new Set<string>();
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
    const why = o.end === "hang" ? `an answer within ${Math.round(o.ms)} ms` : (expected(o) ?? routeProblem(o) ?? formatProblem(o));
    if (why) {
      this.failed.push(`${brief(o)}; expected ${why}`);
      this.failedIds.add(o.id);
    }
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
    // The event should say what the client saw.
    const disagree = outcomes.flatMap((o) => {
      const e = ev.byId.get(o.id)?.[0];
      const why = e && eventProblem(o, e);
      return why ? [`${o.id}: ${why}`] : [];
    });
    if (disagree.length) goals.push({ name: "events record what the client saw", ok: false, detail: disagree.slice(0, 5).join(" | ") });
    const upstreamFailures = this.upstreamCheck(ctx, goals);
    return {
      case: this.name,
      fault: this.fault,
      requests: outcomes.length,
      failures: failed.length + this.checkFailures + ev.duplicated.length + disagree.length + upstreamFailures,
      hangs,
      eventsLost: ev.lost.length,
      recoveryMs: extra.recoveryMs ?? null,
      shed: extra.shed ?? null,
      goals,
      notes: this.notes,
      byEndpoint: this.byEndpoint(),
      details: { ...this.details, ...(failed.length ? { failed } : {}) },
      durationMs: Date.now() - this.t0,
      pass: goals.every((g) => g.ok),
    };
  }

  /** The fake upstream got no prompt that fails closed (steered, conditional, blocked) during this case. */
  private upstreamCheck(ctx: CaseContext, goals: Goal[]): number {
    const got = ctx.upstream.seen.filter((r) => r.at >= this.t0).map((r) => r.prompt);
    const wrong = got.filter((p) => FAILS_CLOSED.has(ctx.router.of(p).route));
    if (got.length) this.details.upstreamRequests = got.length;
    if (!wrong.length) return 0;
    goals.push({ name: "no steered, conditional or blocked prompt sent upstream", ok: false, detail: `${wrong.length}/${got.length}: ${[...new Set(wrong)].slice(0, 3).join(" | ")}` });
    return wrong.length;
  }

  private byEndpoint(): Record<Endpoint, EndpointCounts> {
    const out = Object.fromEntries(ENDPOINTS.map((e) => [e, emptyCounts()])) as Record<Endpoint, EndpointCounts>;
    for (const o of this.outcomes) {
      if (!o.endpoint) continue;
      const c = out[o.endpoint];
      c.requests++;
      if (o.stream) c.streamed++;
      if (this.failedIds.has(o.id)) c.failures++;
      if (o.end === "hang") c.hangs++;
      if (o.end === "error-frame") c.errorEnds++;
      if (refused(o) === null) c.refusals++;
      if (o.status === 429 || o.status === 503) c.shed++;
      if (upstreamAnswer(o) === null) c.upstream++;
      const r = o.route as Route | null;
      if (r && (ROUTES as readonly string[]).includes(r)) c.routes[r]++;
    }
    return out;
  }
}

function emptyCounts(): EndpointCounts {
  return { requests: 0, streamed: 0, failures: 0, hangs: 0, errorEnds: 0, refusals: 0, shed: 0, upstream: 0, routes: { unsteered: 0, conditional: 0, steered: 0, blocked: 0 } };
}

/** The route the edge reported is the one the suite expects for the prompt. */
function routeProblem(o: Outcome): string | null {
  if (!o.route || !o.expectedRoute || o.route === o.expectedRoute) return null;
  return `route ${o.expectedRoute} (x-steerguard-route was ${o.route})`;
}

/** The answer is in its endpoint's wire format (only answers read whole: not cut by us or the network). */
function formatProblem(o: Outcome): string | null {
  if (!o.endpoint || !o.wire || o.status === null || o.end === "aborted" || o.end === "conn-error") return null;
  const p = wireProblem({ endpoint: o.endpoint, status: o.status, headers: o.wire.headers, body: o.wire.body });
  return p && `an answer in its wire format: ${p}`;
}

/** Why the request's decision event does not record what the client saw, or null. */
function eventProblem(o: Outcome, e: DecisionEvent): string | null {
  if (o.endpoint && e.endpoint !== EVENT_ENDPOINT[o.endpoint]) return `event endpoint ${e.endpoint}, request to ${o.endpoint}`;
  if (o.route && e.route !== o.route) return `event route ${e.route}, header ${o.route}`;
  if (o.expectedRoute && FAILS_CLOSED.has(o.expectedRoute) && e.backend === "upstream") return `a ${o.expectedRoute} request answered by the upstream`;
  const seen = `client ${o.status} ${o.end}, event ${e.status} ${e.error ?? ""}`;
  if (o.end === "done" || o.end === "json") return e.status !== o.status ? seen : null;
  if (o.end === "error-frame") return e.status < 500 ? seen : null;
  if (o.end === "aborted") return e.status !== 499 && e.status !== 200 ? seen : null;
  return null;
}

// Expectations shared by the cases: each returns null when met, else what was expected.

const finished = (o: Outcome) => o.status === 200 && (o.end === "done" || (o.end === "json" && o.finishReason !== null));

/** An answer from the model (a sidecar): 200, finished, not the edge's refusal, not the upstream's text. */
export const modelAnswer = (o: Outcome) => (finished(o) && o.finishReason !== "content_filter" && o.text !== UPSTREAM_TEXT ? null : "200 with the model's finished answer");

/** The edge's refusal (blocked, or fail-closed): 200, finish reason content_filter (a stream ended properly). */
export const refused = (o: Outcome) => (finished(o) && o.finishReason === "content_filter" ? null : "200 content_filter refusal");

/** The fake upstream's answer (the failure policy's fallback for a safe chat request). */
export const upstreamAnswer = (o: Outcome) => (finished(o) && o.text === UPSTREAM_TEXT ? null : "the upstream's answer");

/** What a healthy service answers: the refusal on the blocked route, else the model's answer. */
export const answered = (o: Outcome) => (o.expectedRoute === "blocked" ? refused(o) : modelAnswer(o));

/** 503 (or 429) with retry-after. */
export const shedWithRetry = (o: Outcome) => ((o.status === 503 || o.status === 429) && o.retryAfter ? null : "429/503 with retry-after");

const unavailable = (o: Outcome) => (o.status === 503 && o.retryAfter ? null : "503 with retry-after");

/**
 * The failure policy's answer when the sidecar cannot serve (edge/README.md,
 * "Failure policy"), by the route the suite expects: steered, conditional and
 * blocked prompts get the refusal (fail closed, never the upstream); an
 * unsteered one the upstream on chat (the only endpoint with an upstream
 * path), 503 with retry-after on the others.
 */
export const failurePolicy = (o: Outcome) => {
  const route = o.expectedRoute ?? "unsteered";
  if (FAILS_CLOSED.has(route)) return refused(o) && `the refusal (${route}: fail closed)`;
  return o.endpoint === "chat" ? upstreamAnswer(o) && "the upstream's answer (unsteered chat)" : unavailable(o) && `503 with retry-after (unsteered ${o.endpoint})`;
};

/** Any of the given expectations. */
export const anyOf =
  (...ex: Array<(o: Outcome) => string | null>) =>
  (o: Outcome) => {
    const whys = ex.map((e) => e(o));
    return whys.includes(null) ? null : whys.join(" or ");
  };

/** While the sidecar comes and goes: the healthy answer or the failure policy's. */
export const answeredOrPolicy = anyOf(answered, failurePolicy);

/** A stream that ended properly: its format's end or an error event, never cut silently. */
export const streamEnded = (o: Outcome) => (o.status === 200 && (o.end === "done" || o.end === "error-frame") ? null : "a stream ended by its end or an error event");

/** A 4xx in the OpenAI error shape, optionally naming `param`. */
export const clientError = (status: number, param?: string) => (o: Outcome) =>
  o.status === status && o.error && (param === undefined || o.error.param === param) ? null : `${status}${param ? ` naming ${param}` : ""}`;

/** ms → "0.42 s". */
export const secs = (ms: number | null | undefined) => (ms === null || ms === undefined ? "-" : `${(ms / 1000).toFixed(2)} s`);
