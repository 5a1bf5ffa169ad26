/**
 * TLS material for the edge-to-sidecar link, shared by both ends (Node for
 * the sidecar, Deno for the edge): PEM files read and checked with clear
 * errors, and a poller that re-reads them when they change, so certificates
 * renewed in place (cert-manager, a mounted Secret) are picked up without a
 * restart. Nothing here logs or returns key material: errors name the file
 * and the problem only.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";

/** PEM files of one end: its CA bundle (to verify the peer), its certificate chain and key. */
export interface TlsFiles {
  /** CA bundle that verifies the peer (absent: no verification of that side). */
  ca?: string;
  /** Certificate chain (leaf first). */
  cert: string;
  /** Private key of the leaf. */
  key: string;
}

/** The files' contents, checked. */
export interface TlsMaterial {
  ca: Buffer | null;
  cert: Buffer;
  key: Buffer;
  /** "CN=..., serial ..., valid until ..." of the leaf certificate. */
  summary: string;
}

/** What a certificate file is for, in error messages ("client certificate", "server certificate"). */
export type CertRole = "client" | "server";

async function read(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new Error(`cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** A one-line description of a certificate: subject, serial and validity end. */
export function describeCertificate(cert: X509Certificate): string {
  return `${cert.subject.replace(/\n/g, ", ")}, serial ${cert.serialNumber}, valid until ${new Date(cert.validTo).toISOString()}`;
}

/**
 * Checks a certificate chain and its key: the leaf parses, is within its
 * validity dates at `now`, and matches the key; the CA bundle, when given,
 * parses. Throws an Error whose message says which file is wrong and why.
 */
export function checkMaterial(files: TlsFiles, contents: { ca: Buffer | null; cert: Buffer; key: Buffer }, role: CertRole, now = new Date()): TlsMaterial {
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(contents.cert);
  } catch (err) {
    throw new Error(`cannot load ${role} certificate ${files.cert}: not a PEM certificate (${(err as Error).message})`);
  }
  const from = new Date(leaf.validFrom);
  const to = new Date(leaf.validTo);
  if (now > to) throw new Error(`${role} certificate ${files.cert} expired on ${to.toISOString()} (${describeCertificate(leaf)})`);
  if (now < from) throw new Error(`${role} certificate ${files.cert} is not valid before ${from.toISOString()} (${describeCertificate(leaf)})`);
  let matches: boolean;
  try {
    matches = leaf.checkPrivateKey(createPrivateKey(contents.key));
  } catch (err) {
    throw new Error(`cannot load ${role} key ${files.key}: not a PEM private key (${(err as Error).message})`);
  }
  if (!matches) throw new Error(`${role} key ${files.key} does not belong to the certificate ${files.cert} (${describeCertificate(leaf)})`);
  if (contents.ca && files.ca) {
    try {
      new X509Certificate(contents.ca);
    } catch (err) {
      throw new Error(`cannot load CA bundle ${files.ca}: not a PEM certificate (${(err as Error).message})`);
    }
  }
  return { ...contents, summary: describeCertificate(leaf) };
}

/** Reads and checks the files (see checkMaterial). */
export async function loadMaterial(files: TlsFiles, role: CertRole): Promise<TlsMaterial> {
  // All read at once, but the first failure in this order is the one reported (not whichever read lost the race).
  const reads = await Promise.allSettled([files.ca ? read(files.ca, "CA bundle") : null, read(files.cert, `${role} certificate`), read(files.key, `${role} key`)]);
  const failed = reads.find((r) => r.status === "rejected");
  if (failed) throw failed.reason;
  const [ca, cert, key] = reads.map((r) => (r as PromiseFulfilledResult<Buffer | null>).value);
  return checkMaterial(files, { ca: ca ?? null, cert: cert!, key: key! }, role);
}

/** How often certificate files are re-read (a renewal is picked up within this). */
export const TLS_RELOAD_MS = 1_000;

export interface TlsWatcherEvents {
  /** New, valid material (the first load included). */
  onLoad(material: TlsMaterial): void;
  /** The files changed but are not valid (kept: the last good material); or the first load failed. */
  onError(message: string): void;
}

/**
 * Re-reads `files` every `intervalMs` and reports a change (new contents that
 * check out) or a problem (contents that do not; reported once per distinct
 * problem). A half-written renewal is an error for one round and a load the
 * next. `current` is the last good material, `error` the problem with what is
 * on disk now (null when it is fine).
 */
export class TlsWatcher {
  current: TlsMaterial | null = null;
  error: string | null = null;
  private last: string | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;
  private busy = false;

  constructor(
    readonly files: TlsFiles,
    readonly role: CertRole,
    private readonly events: Partial<TlsWatcherEvents> = {},
    private readonly intervalMs = TLS_RELOAD_MS,
  ) {}

  /** Loads once now (resolves with the material, or null and `error` set) and starts polling. */
  async start(): Promise<TlsMaterial | null> {
    await this.poll();
    if (!this.timer) {
      this.timer = setInterval(() => void this.poll(), this.intervalMs);
      unrefTimer(this.timer);
    }
    return this.current;
  }

  /** Reads the files once; reports a change or a new problem. */
  async poll(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const m = await loadMaterial(this.files, this.role);
      const fingerprint = `${m.ca?.toString("base64") ?? ""}|${m.cert.toString("base64")}|${m.key.toString("base64")}`;
      this.error = null;
      if (fingerprint !== this.last) {
        this.last = fingerprint;
        this.current = m;
        this.events.onLoad?.(m);
      }
    } catch (err) {
      const message = (err as Error).message;
      if (message !== this.error) {
        this.error = message;
        this.events.onError?.(message);
      }
    } finally {
      this.busy = false;
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

/** Lets the process exit while the poll timer is pending (Node and Deno). */
export function unrefTimer(t: unknown): void {
  if (t && typeof (t as { unref?: () => void }).unref === "function") (t as { unref: () => void }).unref();
  else {
    const deno = (globalThis as { Deno?: { unrefTimer?: (id: number) => void } }).Deno;
    if (typeof t === "number") deno?.unrefTimer?.(t);
  }
}
