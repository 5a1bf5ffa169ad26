/**
 * The shapes the resilience suite (`npm run chaos`) passes around: a case, the
 * context it runs in, and the row it reports.
 */
import type { Client } from "./client.ts";
import type { Timing } from "./config.ts";
import type { Mix } from "./mix.ts";
import type { Route, Router } from "./routes.ts";
import type { Stack } from "./stack.ts";
import type { FakeUpstream } from "../../test/support/fake-upstream.ts";
import type { Endpoint } from "./wire.ts";

/** One goal a case checks: met or not, and why not. */
export interface Goal {
  name: string;
  ok: boolean;
  detail?: string;
}

/** Shed responses of a load level: fraction of requests answered 429/503, and the fraction of those with retry-after. */
export interface ShedFigures {
  rate: number;
  /** null when nothing was shed. */
  retryAfter: number | null;
}

/** One endpoint's share of a row. */
export interface EndpointCounts {
  requests: number;
  streamed: number;
  /** Requests that behaved other than expected (their answer, route or wire format). */
  failures: number;
  hangs: number;
  /** Streams ended by an error frame / error event. */
  errorEnds: number;
  /** The edge's refusals (blocked route, or fail-closed). */
  refusals: number;
  /** 429 or 503. */
  shed: number;
  /** Answered by the fake upstream (the fallback of safe chat requests). */
  upstream: number;
  /** By x-steerguard-route. */
  routes: Record<Route, number>;
}

/** What one case (or one level of the load ramp) reports: a row of the table. */
export interface CaseRow {
  case: string;
  /** The issue-14 fault it covers ("#1".."#8"), or "" for the extra cases. */
  fault: string;
  requests: number;
  /** Requests that behaved other than expected (wrong status, silent cut, ...), plus failed non-request checks. */
  failures: number;
  /** Requests with no answer (or no end of stream) past their deadline plus a margin. */
  hangs: number;
  /** Requests that reached routing whose decision event is not in the events file. */
  eventsLost: number;
  /** Time from the sidecar being back (restarted, or resumed) to the first successful request, ms. */
  recoveryMs: number | null;
  shed: ShedFigures | null;
  goals: Goal[];
  /** The requests by endpoint (absent for a case that did not run). */
  byEndpoint?: Record<Endpoint, EndpointCounts>;
  /** Observations worth reading that are not goals. */
  notes: string[];
  /** Everything else the case measured (written to --out). */
  details: Record<string, unknown>;
  durationMs: number;
  /** Every goal met. */
  pass: boolean;
}

/** What a case gets to run with. */
export interface CaseContext {
  stack: Stack;
  client: Client;
  timing: Timing;
  /** --quick: fewer requests, shorter load levels. */
  quick: boolean;
  /** The case's seeded spread of requests over the endpoints, streamed and not. */
  mix: Mix;
  /** The route each prompt should take (the shipped classifier under the suite's arm). */
  router: Router;
  /** The fake upstream the edge falls back to for safe chat requests. */
  upstream: FakeUpstream;
  /** Progress lines (stderr in the CLI). */
  log(line: string): void;
  /** Aborted when the run is interrupted (Ctrl-C) or the case runs past its time limit. */
  signal: AbortSignal;
}

export interface ChaosCase {
  name: string;
  fault: string;
  /** One line for --help. */
  summary: string;
  /** Leaves the stack stopped (the runner starts a fresh one for any case after it). */
  stopsStack?: boolean;
  run(ctx: CaseContext): Promise<CaseRow | CaseRow[]>;
}
