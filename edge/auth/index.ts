/**
 * API-key auth: `Authorization: Bearer KEY`. Keys are held only as SHA-256
 * hashes: from the config file (`auth.keys[].sha256`) and from
 * STEERGUARD_API_KEYS (raw keys, hashed at load; ids "env-1", "env-2", ...).
 * 401 without a valid key; 403 (checked by `canUse`) for a model the key may
 * not use.
 */
import { createHash } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import type { Config, RateLimitConfig } from "../config/index.ts";
import { errorResponse } from "../openai/index.ts";

export interface ApiKey {
  id: string;
  /** Models this key may use; null = all. */
  models: string[] | null;
  rateLimit?: RateLimitConfig;
  /** Its requests' system and developer messages are not scored (config auth.keys[].trust_system_prompt; edge/risk/trusted.ts). */
  trustSystemPrompt?: boolean;
}

export function sha256Hex(s: string): string {
  return createHash("sha256").update(s).digest("hex");
}

export class KeyStore {
  private readonly byHash = new Map<string, ApiKey>();
  readonly disabled: boolean;

  constructor(config: Config, envKeys: string | undefined) {
    this.disabled = config.auth.disabled;
    for (const k of config.auth.keys) {
      const models = !k.models || k.models.includes("*") ? null : k.models;
      this.byHash.set(k.sha256.toLowerCase(), { id: k.id, models, rateLimit: k.rate_limit, ...(k.trust_system_prompt ? { trustSystemPrompt: true } : {}) });
    }
    const raw = (envKeys ?? "").split(",").map((s) => s.trim()).filter(Boolean);
    raw.forEach((key, i) => this.byHash.set(sha256Hex(key), { id: `env-${i + 1}`, models: null }));
  }

  get size(): number {
    return this.byHash.size;
  }

  /** The key a presented secret belongs to, or undefined. */
  lookup(secret: string): ApiKey | undefined {
    // The lookup is on the hash of the secret, so its timing reveals nothing
    // useful about stored keys.
    return this.byHash.get(sha256Hex(secret));
  }
}

export function canUse(key: ApiKey, model: string): boolean {
  return key.models === null || key.models.includes(model);
}

export const ANONYMOUS: ApiKey = { id: "anonymous", models: null };

export type AuthEnv = { Variables: { key: ApiKey } };

/** Middleware: sets `c.get("key")` or answers 401. */
export function auth(store: KeyStore): MiddlewareHandler<AuthEnv> {
  return async (c, next) => {
    if (store.disabled) {
      c.set("key", ANONYMOUS);
      return next();
    }
    const header = c.req.header("authorization") ?? "";
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m) {
      return errorResponse(401, "You didn't provide an API key. Send it as 'Authorization: Bearer KEY'.", {
        code: "missing_api_key",
        headers: { "www-authenticate": "Bearer" },
      });
    }
    const key = store.lookup(m[1]);
    if (!key) return errorResponse(401, "Incorrect API key provided.", { code: "invalid_api_key", headers: { "www-authenticate": "Bearer" } });
    c.set("key", key);
    return next();
  };
}
