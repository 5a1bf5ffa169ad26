/**
 * Test and local certificates with the openssl CLI (OpenSSL 3): a CA, and
 * server or client certificates it signs, each an EC P-256 key (PKCS#8 PEM,
 * mode 0600) and a PEM certificate. `npm run gen-certs` (scripts/gen-certs.ts)
 * makes the usual three; tests use `makeCa` / `issue` for the odd ones (a
 * second CA, an expired client, a replacement server certificate).
 *
 * Signing goes through `openssl ca`, the one subcommand of OpenSSL 3.0 that
 * takes explicit validity dates (an expired certificate is one whose dates
 * lie in the past). Its bookkeeping files live in a scratch folder inside the
 * output folder, removed before returning.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { randomBytes } from "node:crypto";

export interface KeyPair {
  /** PEM certificate file. */
  cert: string;
  /** PEM private key file (PKCS#8). */
  key: string;
}

export interface IssueOptions {
  /** Subject common name. */
  cn: string;
  /** serverAuth or clientAuth extended key usage. */
  usage: "server" | "client";
  /** subjectAltName entries, e.g. "DNS:localhost", "IP:127.0.0.1". */
  sans?: string[];
  /** Valid from (default: 5 minutes ago, for clock skew). */
  notBefore?: Date;
  /** Valid until (default: notBefore + `days`). */
  notAfter?: Date;
  /** Default 365. */
  days?: number;
}

const DAY_MS = 86_400_000;

/** Runs openssl; a failure throws with its stderr (never key material: openssl does not print keys there). */
function openssl(args: string[], cwd: string): void {
  try {
    execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === "ENOENT") throw new Error("the openssl command was not found: install OpenSSL 3 (Debian: apt-get install openssl)");
    throw new Error(`openssl ${args[0]} failed: ${e.stderr?.toString().trim() || e.message}`);
  }
}

function newKey(path: string, cwd: string): void {
  openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path], cwd);
  chmodSync(path, 0o600);
}

/** openssl ca's date form (UTCTime before 2050, GeneralizedTime after). */
function asn1Time(d: Date): string {
  const iso = d.toISOString().replace(/[-:T]/g, "").slice(0, 14);
  return d.getUTCFullYear() < 2050 ? `${iso.slice(2)}Z` : `${iso}Z`;
}

/** A subject name for openssl's -subj (characters that need escaping are refused). */
function subject(cn: string): string {
  if (!/^[\w .@-]{1,64}$/.test(cn)) throw new Error(`certificate common name "${cn}" must be 1-64 of A-Z a-z 0-9 _ . @ - and space`);
  return `/CN=${cn}`;
}

/** Makes a self-signed CA `name`.crt / `name`.key in `dir`. */
export function makeCa(folder: string, name: string, opts: { cn?: string; days?: number } = {}): KeyPair {
  const dir = resolve(folder);
  mkdirSync(dir, { recursive: true });
  const ca = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  newKey(ca.key, dir);
  const scratch = mkdtempSync(join(dir, ".openssl-"));
  try {
    const cfg = join(scratch, "req.cnf");
    writeFileSync(
      cfg,
      [
        "[req]",
        "distinguished_name = dn",
        "x509_extensions = v3_ca",
        "[dn]",
        "[v3_ca]",
        "basicConstraints = critical, CA:TRUE",
        "keyUsage = critical, keyCertSign, cRLSign",
        "subjectKeyIdentifier = hash",
        "",
      ].join("\n"),
    );
    const days = String(opts.days ?? 3650);
    openssl(["req", "-x509", "-new", "-config", cfg, "-key", ca.key, "-subj", subject(opts.cn ?? `steerguard ${name}`), "-days", days, "-sha256", "-out", ca.cert], dir);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  return ca;
}

/** Makes `name`.crt / `name`.key in `dir`, signed by `ca`. */
export function issue(ca: KeyPair, folder: string, name: string, opts: IssueOptions): KeyPair {
  const dir = resolve(folder);
  mkdirSync(dir, { recursive: true });
  const out = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  const notBefore = opts.notBefore ?? new Date(Date.now() - 5 * 60_000);
  const notAfter = opts.notAfter ?? new Date(notBefore.getTime() + (opts.days ?? 365) * DAY_MS);
  if (notAfter <= notBefore) throw new Error(`${name}: notAfter must be after notBefore`);
  for (const san of opts.sans ?? []) if (!/^(DNS|IP):[\w.:*-]+$/.test(san)) throw new Error(`subjectAltName "${san}" must be DNS:name or IP:address`);
  newKey(out.key, dir);
  const scratch = mkdtempSync(join(dir, ".openssl-"));
  try {
    const csr = join(scratch, "req.csr");
    const cfg = join(scratch, "ca.cnf");
    writeFileSync(join(scratch, "index.txt"), "");
    writeFileSync(join(scratch, "index.txt.attr"), "unique_subject = no\n");
    writeFileSync(join(scratch, "serial"), `${randomBytes(8).toString("hex").replace(/^./, "4")}\n`);
    writeFileSync(
      cfg,
      [
        "[ca]",
        "default_ca = ca_default",
        "[ca_default]",
        `dir = ${scratch}`,
        "database = $dir/index.txt",
        "new_certs_dir = $dir",
        "serial = $dir/serial",
        "default_md = sha256",
        "policy = policy_any",
        "copy_extensions = none",
        "email_in_dn = no",
        "[policy_any]",
        "commonName = supplied",
        "[req]",
        "distinguished_name = dn",
        "[dn]",
        "[leaf]",
        "basicConstraints = critical, CA:FALSE",
        "keyUsage = critical, digitalSignature, keyEncipherment",
        `extendedKeyUsage = ${opts.usage === "server" ? "serverAuth" : "clientAuth"}`,
        "subjectKeyIdentifier = hash",
        "authorityKeyIdentifier = keyid",
        ...(opts.sans?.length ? [`subjectAltName = ${opts.sans.join(", ")}`] : []),
        "",
      ].join("\n"),
    );
    openssl(["req", "-new", "-config", cfg, "-key", out.key, "-subj", subject(opts.cn), "-out", csr], dir);
    openssl(
      ["ca", "-batch", "-notext", "-config", cfg, "-cert", ca.cert, "-keyfile", ca.key, "-in", csr, "-out", out.cert, "-extensions", "leaf", "-startdate", asn1Time(notBefore), "-enddate", asn1Time(notAfter)],
      dir,
    );
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  return out;
}

/** What `npm run gen-certs` makes. */
export interface CertSet {
  ca: KeyPair;
  server: KeyPair;
  client: KeyPair;
}

export interface GenCertsOptions {
  /** Extra subjectAltName entries of the server certificate. */
  sans?: string[];
  /** Validity of the server and client certificates (the CA gets ten years). */
  days?: number;
  /** Replace files already there (default: refuse). */
  force?: boolean;
  /** Common names (defaults steerguard-sidecar, steerguard-edge). */
  serverName?: string;
  clientName?: string;
}

/** The server certificate's names: localhost and the loopback addresses, its own name, and `extra`. */
export function serverSans(serverName: string, extra: string[] = []): string[] {
  return [...new Set(["DNS:localhost", "IP:127.0.0.1", "IP:::1", `DNS:${serverName}`, ...extra])];
}

/** A CA (ca.crt, ca.key), a server certificate (server.crt, .key) and a client certificate (client.crt, .key) in `out`. */
export function genCerts(out: string, opts: GenCertsOptions = {}): CertSet {
  const names = ["ca", "server", "client"].flatMap((n) => [`${n}.crt`, `${n}.key`]);
  const present = names.filter((n) => existsSync(join(out, n)));
  if (present.length > 0 && !opts.force) throw new Error(`${out} already has ${present.join(", ")}: choose another folder, or --force to replace them`);
  const serverName = opts.serverName ?? "steerguard-sidecar";
  const ca = makeCa(out, "ca", { cn: "steerguard test CA" });
  const server = issue(ca, out, "server", { cn: serverName, usage: "server", sans: serverSans(serverName, opts.sans), days: opts.days });
  const client = issue(ca, out, "client", { cn: opts.clientName ?? "steerguard-edge", usage: "client", days: opts.days });
  return { ca, server, client };
}
