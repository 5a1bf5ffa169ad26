/**
 * TLS material checks and the file watcher, on certificates made by
 * scripts/certs (openssl): each kind of bad file is refused with a message
 * naming the file and the problem (never key material), a change on disk is
 * loaded, and a bad change keeps the last good material.
 */
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { genCerts, issue } from "../scripts/certs/index.ts";
import { tempDir } from "../test/support/tmp.ts";
import { loadMaterial, TlsWatcher, type TlsMaterial } from "./tls.ts";

let dir: string;
let certs: ReturnType<typeof genCerts>;
beforeAll(() => {
  dir = tempDir("steerguard-tls-");
  certs = genCerts(join(dir, "pki"));
});

describe("loadMaterial", () => {
  it("loads a certificate, its key and a CA bundle, and describes the certificate", async () => {
    const m = await loadMaterial({ ca: certs.ca.cert, cert: certs.client.cert, key: certs.client.key }, "client");
    expect(m.cert.equals(readFileSync(certs.client.cert))).toBe(true);
    expect(m.ca!.equals(readFileSync(certs.ca.cert))).toBe(true);
    expect(m.summary).toMatch(/^CN=steerguard-edge, serial [0-9A-F]+, valid until \d{4}-/);
  });

  it("refuses each kind of bad file, naming it and the problem", async () => {
    const junk = join(dir, "junk.pem");
    writeFileSync(junk, "not a certificate\n");
    const expired = issue(certs.ca, join(dir, "x"), "expired", { cn: "old", usage: "client", notBefore: new Date("2020-01-01Z"), notAfter: new Date("2020-02-01Z") });
    const future = issue(certs.ca, join(dir, "x"), "future", { cn: "new", usage: "client", notBefore: new Date("2090-01-01Z"), days: 30 });
    const cases: [Parameters<typeof loadMaterial>[0], RegExp][] = [
      [{ cert: join(dir, "missing.crt"), key: certs.client.key }, /^cannot read client certificate .*missing\.crt: ENOENT$/],
      [{ cert: junk, key: certs.client.key }, /^cannot load client certificate .*junk\.pem: not a PEM certificate/],
      [{ cert: certs.client.cert, key: junk }, /^cannot load client key .*junk\.pem: not a PEM private key/],
      [{ cert: certs.client.cert, key: certs.server.key }, /^client key .*server\.key does not belong to the certificate .*client\.crt \(CN=steerguard-edge/],
      [{ cert: expired.cert, key: expired.key }, /^client certificate .*expired\.crt expired on 2020-02-01T00:00:00\.000Z/],
      [{ cert: future.cert, key: future.key }, /^client certificate .*future\.crt is not valid before 2090-01-01T00:00:00\.000Z/],
      [{ ca: junk, cert: certs.client.cert, key: certs.client.key }, /^cannot load CA bundle .*junk\.pem/],
    ];
    for (const [files, message] of cases) {
      const err = await loadMaterial(files, "client").then(() => null, (e: Error) => e.message);
      expect(err).toMatch(message);
      expect(err).not.toMatch(/PRIVATE KEY/);
    }
  });
});

describe("TlsWatcher", () => {
  it("loads changes, keeps the last good material through a bad one, and reports each problem once", async () => {
    const live = { cert: join(dir, "live.crt"), key: join(dir, "live.key") };
    copyFileSync(certs.server.cert, live.cert);
    copyFileSync(certs.server.key, live.key);
    const loads: TlsMaterial[] = [];
    const errors: string[] = [];
    const w = new TlsWatcher(live, "server", { onLoad: (m) => loads.push(m), onError: (e) => errors.push(e) }, 60_000);
    try {
      await w.start();
      expect(loads.map((m) => m.summary)).toEqual([expect.stringMatching(/^CN=steerguard-sidecar/)]);
      await w.poll(); // unchanged: nothing reported
      expect(loads).toHaveLength(1);

      // Half a renewal: the new certificate with the old key.
      const next = issue(certs.ca, join(dir, "next"), "server", { cn: "renewed", usage: "server" });
      copyFileSync(next.cert, live.cert);
      await w.poll();
      await w.poll();
      expect(errors).toEqual([expect.stringMatching(/^server key .*live\.key does not belong to the certificate/)]);
      expect(w.error).toBe(errors[0]);
      expect(w.current!.summary).toMatch(/^CN=steerguard-sidecar/);

      copyFileSync(next.key, live.key);
      await w.poll();
      expect(w.error).toBeNull();
      expect(loads.map((m) => m.summary.split(",")[0])).toEqual(["CN=steerguard-sidecar", "CN=renewed"]);
      expect(w.current!.key.equals(readFileSync(next.key))).toBe(true);
    } finally {
      w.stop();
    }
  });

  it("a first load that fails leaves no material and says why", async () => {
    const w = new TlsWatcher({ cert: join(dir, "nope.crt"), key: join(dir, "nope.key") }, "client");
    expect(await w.start()).toBeNull();
    w.stop();
    expect(w.error).toMatch(/^cannot read client certificate .*nope\.crt: ENOENT/);
  });
});
