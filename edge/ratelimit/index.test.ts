import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import type { ApiKey, AuthEnv } from "../auth/index.ts";
import { rateLimit, RateLimiter } from "./index.ts";

describe("RateLimiter", () => {
  it("allows a burst, then refills at the sustained rate", () => {
    let now = 0;
    const rl = new RateLimiter({ requests_per_minute: 60, burst: 3 }, () => now);
    expect([rl.take("a").ok, rl.take("a").ok, rl.take("a").ok]).toEqual([true, true, true]);
    const v = rl.take("a");
    expect(v.ok).toBe(false);
    expect(!v.ok && v.retryAfterMs).toBeCloseTo(1_000);
    expect(rl.take("b").ok).toBe(true); // per key
    now += 1_000;
    expect(rl.take("a").ok).toBe(true);
    expect(rl.take("a").ok).toBe(false);
  });

  it("uses a key's own limit, and 0 turns the limit off", () => {
    const rl = new RateLimiter({ requests_per_minute: 0 }, () => 0);
    for (let i = 0; i < 1000; i++) expect(rl.take("a").ok).toBe(true);
    expect(rl.take("k", { requests_per_minute: 6, burst: 1 }).ok).toBe(true);
    expect(rl.take("k", { requests_per_minute: 6, burst: 1 }).ok).toBe(false);
  });

  it("answers 429 with retry-after in whole seconds", async () => {
    let now = 0;
    const rl = new RateLimiter({ requests_per_minute: 6, burst: 1 }, () => now);
    const app = new Hono<AuthEnv>();
    const key: ApiKey = { id: "k", models: null };
    app.use("*", async (c, next) => {
      c.set("key", key);
      await next();
    });
    app.get("/", rateLimit(rl), (c) => c.text("ok"));
    expect((await app.request("/")).status).toBe(200);
    const res = await app.request("/");
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe("10");
    expect(((await res.json()) as { error: { type: string; code: string } }).error).toMatchObject({ type: "rate_limit_error", code: "rate_limit_exceeded" });
    now += 10_000;
    expect((await app.request("/")).status).toBe(200);
  });
});
