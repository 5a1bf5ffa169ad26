/**
 * Per-key rate limit: a token bucket per API key id (`requests_per_minute`
 * sustained, `burst` at once). Over the limit: 429 with `retry-after` in
 * whole seconds. In memory, per edge process.
 */
import type { MiddlewareHandler } from "hono";
import type { RateLimitConfig } from "../config/index.ts";
import type { AuthEnv } from "../auth/index.ts";
import { errorResponse } from "../openai/index.ts";

interface Bucket {
  tokens: number;
  at: number;
}

export type Verdict = { ok: true; remaining: number } | { ok: false; retryAfterMs: number };

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  constructor(
    private readonly defaults: RateLimitConfig,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Takes one token from `id`'s bucket. */
  take(id: string, override?: RateLimitConfig): Verdict {
    const cfg = override ?? this.defaults;
    const rpm = cfg.requests_per_minute;
    if (rpm <= 0) return { ok: true, remaining: Infinity };
    const burst = cfg.burst ?? Math.max(1, Math.floor(rpm / 6));
    const perMs = rpm / 60_000;
    const t = this.now();
    let b = this.buckets.get(id);
    if (!b) {
      b = { tokens: burst, at: t };
      this.buckets.set(id, b);
      if (this.buckets.size > 100_000) this.sweep(t, burst, perMs);
    } else {
      b.tokens = Math.min(burst, b.tokens + (t - b.at) * perMs);
      b.at = t;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { ok: true, remaining: Math.floor(b.tokens) };
    }
    return { ok: false, retryAfterMs: (1 - b.tokens) / perMs };
  }

  /** Drops buckets that have refilled completely (they equal a fresh one). */
  private sweep(t: number, burst: number, perMs: number) {
    for (const [id, b] of this.buckets) if (b.tokens + (t - b.at) * perMs >= burst) this.buckets.delete(id);
  }
}

/** Middleware: answers 429 with retry-after when the caller's key is over its limit. */
export function rateLimit(limiter: RateLimiter): MiddlewareHandler<AuthEnv> {
  return async (c, next) => {
    const key = c.get("key");
    const v = limiter.take(key.id, key.rateLimit);
    if (!v.ok) {
      const secs = Math.max(1, Math.ceil(v.retryAfterMs / 1000));
      return errorResponse(429, `Rate limit reached for key ${key.id}; retry after ${secs} s.`, {
        code: "rate_limit_exceeded",
        headers: { "retry-after": String(secs) },
      });
    }
    return next();
  };
}
