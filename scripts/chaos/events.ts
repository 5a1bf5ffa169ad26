/**
 * The edge's decision events (one JSON line per request that reached
 * routing, `events.path` of the suite's config): read them back and find the
 * requests whose event is missing. The edge writes in batches at most 50 ms
 * after a request, so a check waits a little for the last ones.
 */
import { existsSync, readFileSync } from "node:fs";
import type { DecisionEvent } from "../../edge/events/index.ts";
import type { Outcome } from "./client.ts";
import { until } from "./procs.ts";

export function readEvents(path: string): DecisionEvent[] {
  if (!existsSync(path)) return [];
  const out: DecisionEvent[] = [];
  for (const line of readFileSync(path, "utf8").split("\n")) {
    if (!line) continue;
    try {
      out.push(JSON.parse(line) as DecisionEvent);
    } catch {
      // a torn last line while the edge is writing: read again later
    }
  }
  return out;
}

export interface EventCheck {
  /** Requests that reached routing with no event. */
  lost: string[];
  /** Requests with more than one event. */
  duplicated: string[];
  byId: Map<string, DecisionEvent[]>;
}

/** Checks that every outcome with `expectEvent` has exactly one event, waiting up to `waitMs` for stragglers. */
export async function checkEvents(path: string, outcomes: readonly Outcome[], waitMs = 3_000): Promise<EventCheck> {
  const want = outcomes.filter((o) => o.expectEvent).map((o) => o.id);
  const ids = new Set(outcomes.map((o) => o.id));
  const look = () => {
    const byId = new Map<string, DecisionEvent[]>();
    for (const e of readEvents(path)) if (ids.has(e.request_id)) byId.set(e.request_id, [...(byId.get(e.request_id) ?? []), e]);
    return byId;
  };
  let byId = look();
  await until(waitMs, () => ((byId = look()), want.every((id) => byId.has(id)) ? true : undefined), 100);
  return {
    lost: want.filter((id) => !byId.has(id)),
    duplicated: [...byId].filter(([, evs]) => evs.length > 1).map(([id]) => id),
    byId,
  };
}
