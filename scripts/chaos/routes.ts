/**
 * The route each prompt should take, worked out on the suite's side: the
 * shipped classifier's risk (edge/risk, the scorer the edge loads) against
 * the suite's arm (config.ts: a condition band and a block threshold), by the
 * rule of edge/README.md ("Request path"): blocked at or above the block
 * threshold, steered at or above the band's high, conditional inside the
 * band, unsteered below it. Cases judge the failure policy by this route
 * (a conditional prompt must be refused like a steered one while the sidecar
 * is away), not by the route header the edge itself reports, which they
 * check against it.
 */
import { loadRiskScorer, type RiskScorer } from "../../edge/risk/index.ts";
import { ARM } from "./config.ts";

export const ROUTES = ["unsteered", "conditional", "steered", "blocked"] as const;
export type Route = (typeof ROUTES)[number];

/** The routes on which a sidecar failure is answered as for a risky prompt (the refusal). */
export const FAILS_CLOSED: ReadonlySet<Route> = new Set(["conditional", "steered", "blocked"]);

export function routeOfRisk(risk: number, arm = ARM): Route {
  if (risk >= arm.block_threshold) return "blocked";
  if (risk >= arm.condition_band.high) return "steered";
  if (risk >= arm.condition_band.low) return "conditional";
  return "unsteered";
}

export class Router {
  private readonly cache = new Map<string, { risk: number; route: Route }>();

  constructor(private readonly scorer: Pick<RiskScorer, "score" | "source">) {}

  /** The shipped classifier; refuses the keyword fallback (its routes would not be the edge's). */
  static async load(): Promise<Router> {
    const warnings: string[] = [];
    const scorer = await loadRiskScorer({ warn: (m) => warnings.push(m) });
    if (scorer.source === "keyword-fallback") throw new Error(`the shipped classifier could not be loaded: ${warnings.join("; ")}`);
    return new Router(scorer);
  }

  get source(): string {
    return this.scorer.source;
  }

  /** Risk and route of one user turn. */
  of(text: string): { risk: number; route: Route } {
    return this.ofTurns([{ role: "user", content: text }]);
  }

  /** Risk and route of a conversation (the turns the edge scores). */
  ofTurns(turns: ReadonlyArray<{ role: string; content: string }>): { risk: number; route: Route } {
    const key = JSON.stringify(turns.map((t) => [t.role, t.content]));
    let r = this.cache.get(key);
    if (!r) {
      const risk = this.scorer.score(turns);
      r = { risk, route: routeOfRisk(risk) };
      this.cache.set(key, r);
    }
    return r;
  }
}
