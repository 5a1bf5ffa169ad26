import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../config/index.ts";
import { auth, canUse, KeyStore, sha256Hex, type AuthEnv } from "./index.ts";

const config = parseConfig({ auth: { keys: [{ id: "team", sha256: sha256Hex("sk-team").toUpperCase(), models: ["a"] }] } });

function app(store: KeyStore) {
  const h = new Hono<AuthEnv>();
  h.get("/x", auth(store), (c) => c.json({ id: c.get("key").id }));
  return h;
}

describe("auth", () => {
  const store = new KeyStore(config, " sk-env1 ,sk-env2,");
  it("keeps only hashes and finds keys from config and env", () => {
    expect(store.size).toBe(3);
    expect(store.lookup("sk-team")?.id).toBe("team");
    expect(store.lookup("sk-env1")?.id).toBe("env-1");
    expect(store.lookup("sk-env2")?.id).toBe("env-2");
    expect(store.lookup("sk-nope")).toBeUndefined();
    expect(JSON.stringify([...(store as unknown as { byHash: Map<string, unknown> }).byHash.keys()])).not.toContain("sk-env1");
  });

  it("answers 401 without a key, with a malformed header or a wrong key", async () => {
    const a = app(store);
    for (const headers of [{}, { authorization: "Basic abc" }, { authorization: "Bearer sk-wrong" }] as Array<Record<string, string>>) {
      const res = await a.request("/x", { headers });
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toBe("Bearer");
      expect(((await res.json()) as { error: { type: string } }).error.type).toBe("authentication_error");
    }
    const ok = await a.request("/x", { headers: { authorization: "Bearer sk-env2" } });
    expect(await ok.json()).toEqual({ id: "env-2" });
  });

  it("limits keys to their models", () => {
    expect(canUse(store.lookup("sk-team")!, "a")).toBe(true);
    expect(canUse(store.lookup("sk-team")!, "b")).toBe(false);
    expect(canUse(store.lookup("sk-env1")!, "b")).toBe(true);
  });

  it("lets everyone in when auth is disabled", async () => {
    const open = new KeyStore(parseConfig({ auth: { disabled: true } }), undefined);
    expect(await (await app(open).request("/x")).json()).toEqual({ id: "anonymous" });
  });
});
