/**
 * The seeded spread of a case's traffic over the three endpoints, streamed
 * and not. Request `i` of a case goes to endpoint (offset + i) mod 3, so
 * every endpoint gets a third of any run of requests (a fault hit by three
 * requests is hit on each endpoint), with the offset and each request's
 * streaming drawn from the run's seed and the case's name (the fuzzer's
 * generator, scripts/fuzz-edge/rng.ts): the same seed gives the same
 * traffic, whichever cases run.
 */
import { Rng } from "../fuzz-edge/rng.ts";
import { ENDPOINTS, type Endpoint } from "./wire.ts";

export interface Pick {
  endpoint: Endpoint;
  stream: boolean;
}

/** A stable 32-bit hash of a case name. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export class Mix {
  private readonly offset: number;
  private n = 0;

  constructor(
    readonly seed: number,
    readonly name: string,
    /** Share of requests streamed. */
    private readonly streamShare = 0.5,
  ) {
    this.offset = Rng.forCase(seed, hash(name)).int(0, ENDPOINTS.length - 1);
  }

  /** Request `i`'s endpoint and streaming (`among`: only these endpoints, in turn). */
  at(i: number, among: readonly Endpoint[] = ENDPOINTS): Pick {
    const endpoint = among[(this.offset + i) % among.length]!;
    const stream = Rng.forCase(this.seed ^ hash(this.name), i).chance(this.streamShare);
    return { endpoint, stream };
  }

  /** The next request's (sequential callers). */
  next(among?: readonly Endpoint[]): Pick {
    return this.at(this.n++, among);
  }
}
