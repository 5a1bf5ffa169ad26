/**
 * npm run gen-certs -- --out DIR [--san DNS:name|IP:addr ...] [--days N] [--force]
 *
 * A CA and a server and a client certificate it signs, for mutual TLS between
 * the edge and the sidecar in tests and local use (scripts/certs/: the openssl
 * CLI). Not for production: there, cert-manager or another CA issues them.
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { genCerts } from "./certs/index.ts";
import { intFlag, parseCli, requireFlags, UsageError } from "./lib/cli.ts";

const HELP = `Usage: npm run gen-certs -- --out DIR [options]

Makes, in DIR: ca.crt + ca.key (a CA, ten years), server.crt + server.key (the sidecar's;
names localhost, 127.0.0.1, ::1, steerguard-sidecar and each --san) and client.crt +
client.key (the edge's, CN steerguard-edge). EC P-256 keys, PEM, mode 0600. Needs the
openssl command (OpenSSL 3).

  --out DIR         where to write (created if missing)
  --san NAME        another subjectAltName of the server certificate, DNS:name or IP:address;
                    repeatable (e.g. --san DNS:steerguard-sidecar.steerguard.svc)
  --days N          validity of the server and client certificates (default 365)
  --force           replace certificates already in DIR
  -h, --help        show this help

Then: npm run sidecar -- --tls-cert DIR/server.crt --tls-key DIR/server.key --tls-client-ca DIR/ca.crt
and in the edge's config: "sidecar": { "tls": { "ca": "DIR/ca.crt", "cert": "DIR/client.crt", "key": "DIR/client.key" } }
`;

export function main(argv: string[]): number {
  const parsed = parseCli(
    argv,
    { out: { type: "string" }, san: { type: "string", multiple: true }, days: { type: "string" }, force: { type: "boolean" }, help: { type: "boolean", short: "h" } },
    HELP,
    { prefix: "gen-certs: " },
  );
  if ("exit" in parsed) return parsed.exit;
  const { values } = parsed;
  if (!requireFlags(values, ["out"], HELP)) return 2;
  try {
    const days = intFlag("days", values.days, { min: 1, max: 36_500, default: 365 });
    const set = genCerts(values.out, { sans: values.san, days, force: values.force });
    for (const [name, pair] of Object.entries(set)) process.stdout.write(`${name.padEnd(6)} ${pair.cert}  ${pair.key}\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`gen-certs: ${(e as Error).message}\n`);
    return e instanceof UsageError ? 2 : 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = main(process.argv.slice(2));
}
