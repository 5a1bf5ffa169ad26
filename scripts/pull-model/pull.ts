/**
 * Downloads a Hugging Face Llama-family checkpoint (config, safetensors
 * weights, tokenizer files) into a plain directory, resumably and verified.
 *
 * What @huggingface/hub does here:
 *   - modelInfo (GET /api/models/ORG/NAME/revision/REV): resolves the revision
 *     to a commit sha, so every file comes from the same commit even if the
 *     branch moves during a long download, and so a resumed run continues the
 *     same bytes;
 *   - listFiles (GET /api/models/ORG/NAME/tree/SHA, paginated): sizes, git
 *     oids and, for LFS files, `lfs.oid` = the sha256 of the content;
 *   - fileDownloadInfo (GET /ORG/NAME/resolve/SHA/PATH with Range 0-0):
 *     the download URL after the CDN redirect, the size, EntryNotFound;
 *   - downloadFile → a Blob whose slice(start).stream() issues
 *     `Range: bytes=start-end` — that is how a `.part` file is continued.
 *
 * What is written by hand, and why:
 *   - the `.part` bookkeeping, retries, hashing and the atomic rename: the
 *     library's downloadFileToCacheDir writes into the HF cache layout, does
 *     not resume and does not verify;
 *   - a fetch wrapper passed as `fetch` to the library: the Blob it returns
 *     hides the HTTP status, so a server that ignores Range (200 with the
 *     whole file) would silently be appended to the partial file; the wrapper
 *     checks that a Range request got a 206 starting at the requested offset,
 *     and records X-Error-Code of failed responses for clear error messages.
 *     It also sends HF_TOKEN as a bearer token when the token does not start
 *     with `hf_` (the library rejects such tokens; mirrors behind HF_ENDPOINT
 *     may use other tokens);
 *   - checksums: sha256 of LFS files against the tree's `lfs.oid` (the
 *     `X-Linked-Etag` of the resolve redirect carries the same value, but
 *     fetch follows the redirect so the library only sees the CDN's ETag);
 *     regular (non-LFS) files against their git blob sha1 (`oid`).
 *
 * Xet: the library would download xet-backed files through its XetBlob (CAS
 * reconstruction). We pass `xet: false`, so every file comes from the plain
 * resolve URL (the hub redirects it to a CDN that serves Range requests):
 * one code path that the offline tests exercise, and the same bytes.
 */
import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { downloadFile, fileDownloadInfo, HubApiError, listFiles, modelInfo, type ListFileEntry } from "@huggingface/hub";
import { Progress } from "../lib/progress.ts";

export const DEFAULT_ENDPOINT = "https://huggingface.co";

/** Files fetched when present; `config.json`, the tokenizer files and the weights are required. */
export const REQUIRED_FILES = ["config.json", "tokenizer.json", "tokenizer_config.json"] as const;
export const OPTIONAL_FILES = ["generation_config.json", "chat_template.jinja", "special_tokens_map.json"] as const;
export const SINGLE_WEIGHTS = "model.safetensors";
export const WEIGHTS_INDEX = "model.safetensors.index.json";

export interface PullOptions {
  /** "ORG/NAME" */
  repo: string;
  /** branch, tag or commit (default "main") */
  revision?: string;
  /** output directory (created) */
  out: string;
  /** hub base URL (default https://huggingface.co; HF_ENDPOINT) */
  endpoint?: string;
  /** access token (HF_TOKEN), sent as `Authorization: Bearer` */
  token?: string;
  /** extra attempts per file after a network error (default 3) */
  retries?: number;
  /** first back-off delay, doubled per retry (default 1000 ms) */
  retryDelayMs?: number;
  /** where the progress bar goes (default stderr); null for none */
  progress?: NodeJS.WriteStream | null;
  /** one-line notes (resumes, retries); default none */
  log?: (msg: string) => void;
  /** fetch to use underneath (default global fetch) */
  fetch?: typeof fetch;
}

export type FileStatus = "downloaded" | "resumed" | "verified";

export interface PulledFile {
  path: string;
  size: number;
  /** downloaded: fetched whole; resumed: continued from a .part file; verified: already complete on disk */
  status: FileStatus;
  /** what the content was checked against */
  check: { algo: "sha256" | "git-sha1"; hex: string } | null;
}

export interface PullResult {
  repo: string;
  revision: string;
  commit: string;
  out: string;
  files: PulledFile[];
  /** bytes that came over the network for file bodies */
  bytesDownloaded: number;
}

/** A failure with a message meant for the user. */
export class PullError extends Error {
  override name = "PullError";
}

export class ChecksumError extends PullError {
  override name = "ChecksumError";
  constructor(
    readonly path: string,
    readonly algo: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(
      `checksum mismatch for ${path}: expected ${algo} ${expected} (from the hub's file listing), got ${actual}; ` +
        `the downloaded data was deleted`,
    );
  }
}

/** Reads HF_ENDPOINT / HF_TOKEN (HUGGING_FACE_HUB_TOKEN as a fallback). */
export function hubEnv(env: NodeJS.ProcessEnv = process.env): { endpoint: string; token?: string } {
  const endpoint = (env.HF_ENDPOINT?.trim() || DEFAULT_ENDPOINT).replace(/\/+$/, "");
  const token = env.HF_TOKEN?.trim() || env.HUGGING_FACE_HUB_TOKEN?.trim() || undefined;
  return { endpoint, token };
}

export const REPO_ID = /^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*$/;

interface Expected {
  size: number;
  check: PulledFile["check"];
}

interface FailureNote {
  status: number;
  code: string | null;
}

interface Ctx {
  repo: string;
  commit: string;
  out: string;
  endpoint: string;
  hasToken: boolean;
  cred: { accessToken: string } | Record<string, never>;
  fetch: typeof fetch;
  /** set by the fetch wrapper */
  lastFailure: FailureNote | null;
  rangeRefused: boolean;
  retries: number;
  retryDelayMs: number;
  log: (msg: string) => void;
  bytesDownloaded: number;
}

class RangeRefused extends Error {}

/** The fetch handed to @huggingface/hub: bearer for non-hf_ tokens, Range check, error-code notes. */
function wrapFetch(ctx: Ctx, base: typeof fetch, rawToken: string | undefined): typeof fetch {
  return async (input, init) => {
    const headers = new Headers(init?.headers);
    if (rawToken && !headers.has("authorization")) headers.set("authorization", `Bearer ${rawToken}`);
    const res = await base(input, { ...init, headers });
    if (!res.ok) ctx.lastFailure = { status: res.status, code: res.headers.get("x-error-code") };
    const m = /^bytes=(\d+)-/.exec(headers.get("range") ?? "");
    if (m && Number(m[1]) > 0 && res.ok) {
      const cr = /^bytes (\d+)-/.exec(res.headers.get("content-range") ?? "");
      if (res.status !== 206 || !cr || cr[1] !== m[1]) {
        ctx.rangeRefused = true;
        await res.body?.cancel().catch(() => undefined);
        throw new RangeRefused(`server answered ${res.status} to ${headers.get("range")}`);
      }
    }
    return res;
  };
}

/** Progress in bytes over all files, shown in KiB/MiB; never counts a byte twice across retries. */
class Meter {
  private readonly bar: Progress | null;
  private readonly unit: number;
  private ticked = 0;
  private bytes = 0;
  private fileHigh = 0;
  private current = "";
  private readonly t0 = Date.now();

  constructor(total: number, label: string, stream: NodeJS.WriteStream | null) {
    this.unit = total >= 256 * 2 ** 20 ? 2 ** 20 : total >= 2 ** 20 ? 2 ** 10 : 1;
    const unitName = this.unit === 1 ? "B" : this.unit === 1024 ? "KiB" : "MiB";
    this.bar = stream ? new Progress({ total: Math.ceil(total / this.unit), label: `${label} (${unitName})`, stream }) : null;
  }

  startFile(name: string): void {
    this.current = name;
    this.fileHigh = 0;
  }

  /** `pos` bytes of the current file are on disk. */
  at(pos: number): void {
    if (pos <= this.fileHigh) return;
    this.bytes += pos - this.fileHigh;
    this.fileHigh = pos;
    const units = Math.floor(this.bytes / this.unit);
    if (units > this.ticked && this.bar) {
      const secs = Math.max(1e-3, (Date.now() - this.t0) / 1000);
      this.bar.tick(units - this.ticked, `${this.current} ${(this.bytes / secs / 1e6).toFixed(1)} MB/s`);
    }
    this.ticked = Math.max(this.ticked, units);
  }

  finish(): void {
    this.bar?.finish(`${(this.bytes / 1e6).toFixed(1)} MB`);
  }
}

function expectedOf(entry: ListFileEntry): Expected {
  if (entry.lfs) return { size: entry.lfs.size, check: { algo: "sha256", hex: entry.lfs.oid.toLowerCase() } };
  if (entry.oid && /^[0-9a-f]{40}$/i.test(entry.oid)) return { size: entry.size, check: { algo: "git-sha1", hex: entry.oid.toLowerCase() } };
  return { size: entry.size, check: null };
}

function newHash(exp: Expected): Hash | null {
  if (!exp.check) return null;
  if (exp.check.algo === "sha256") return createHash("sha256");
  return createHash("sha1").update(`blob ${exp.size}\0`);
}

async function hashFileInto(path: string, h: Hash | null, onBytes?: (n: number) => void): Promise<void> {
  let n = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    h?.update(chunk as Buffer);
    n += (chunk as Buffer).byteLength;
    onBytes?.(n);
  }
}

async function sizeOf(path: string): Promise<number | null> {
  try {
    const s = await stat(path);
    return s.isFile() ? s.size : null;
  } catch {
    return null;
  }
}

/** Joins a hub path under `root`, refusing anything that could escape it. */
function safeJoin(root: string, p: string): string {
  if (!p || isAbsolute(p) || p.includes("\\") || p.split("/").some((s) => s === "" || s === "." || s === "..")) {
    throw new PullError(`refusing unsafe file path from the hub: ${JSON.stringify(p)}`);
  }
  return join(root, ...p.split("/"));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Turns a hub error into a sentence; `what` names the request ("file config.json", ...). */
function explain(ctx: Ctx, e: unknown, what: string): PullError | null {
  if (e instanceof PullError) return e;
  const status = e instanceof HubApiError ? e.statusCode : ctx.lastFailure?.status;
  const code = ctx.lastFailure?.code ?? null;
  if (status === undefined || status >= 500 || status === 408 || status === 429) return null; // transient
  const detail = e instanceof Error ? e.message : String(e);
  const tokenHint = ctx.hasToken ? "HF_TOKEN was sent" : "no HF_TOKEN was set";
  if (status === 401 && /invalid credentials/i.test(detail)) {
    return new PullError(`${ctx.endpoint} rejected HF_TOKEN (invalid credentials) while fetching ${what}`);
  }
  if (code === "GatedRepo") {
    return new PullError(
      status === 401
        ? `${ctx.repo} is a gated repository and ${tokenHint}: accept its terms on the hub, then set HF_TOKEN to a token of that account (fetching ${what})`
        : `HF_TOKEN has not been granted access to gated repository ${ctx.repo}: accept its terms on the hub with that account (fetching ${what})`,
    );
  }
  if (code === "RevisionNotFound") return new PullError(`revision not found in ${ctx.repo} on ${ctx.endpoint}: ${detail}`);
  if (code === "EntryNotFound") return new PullError(`${what} not found in ${ctx.repo}@${ctx.commit}`);
  if (code === "RepoNotFound" || status === 404 || status === 401) {
    return new PullError(
      `repository ${ctx.repo} not found on ${ctx.endpoint} (${tokenHint}; ${ctx.hasToken ? "the token may have no access to it" : "if it is private, set HF_TOKEN"})`,
    );
  }
  return new PullError(`hub error ${status} while fetching ${what}: ${detail}`);
}

/** Runs a metadata request with retries on transient failures. */
async function withRetries<T>(ctx: Ctx, what: string, fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    ctx.lastFailure = null;
    try {
      return await fn();
    } catch (e) {
      const fatal = explain(ctx, e, what);
      if (fatal) throw fatal;
      if (attempt >= ctx.retries) throw new PullError(`cannot fetch ${what} from ${ctx.endpoint}: ${describe(e)}`);
      ctx.log(`${what}: ${describe(e)}; retrying`);
      await sleep(ctx.retryDelayMs * 2 ** attempt);
    }
  }
}

function describe(e: unknown): string {
  if (e instanceof Error) {
    const cause = (e as Error & { cause?: unknown }).cause;
    return cause instanceof Error ? `${e.message} (${cause.message})` : e.message;
  }
  return String(e);
}

/** A hash for `exp`, fed with the first `start` bytes already in `part`. */
async function startHash(ctx: Ctx, path: string, part: string, start: number, exp: Expected, meter: Meter | null): Promise<Hash | null> {
  const h = newHash(exp);
  if (start > 0) {
    await hashFileInto(part, h, (n) => meter?.at(n));
    ctx.log(`${path}: resuming at byte ${start} of ${exp.size}`);
  }
  return h;
}

/**
 * Brings one file to `out/path`, verified. Continues `out/path.part` if present.
 */
async function fetchFile(ctx: Ctx, path: string, exp: Expected, meter: Meter | null): Promise<{ status: FileStatus; check: PulledFile["check"] }> {
  const final = safeJoin(ctx.out, path);
  const part = `${final}.part`;
  await mkdir(dirname(final), { recursive: true });
  meter?.startFile(path);

  // A complete file from an earlier run: keep it if its checksum verifies.
  const have = await sizeOf(final);
  if (have !== null) {
    if (have === exp.size) {
      const h = newHash(exp);
      await hashFileInto(final, h, (n) => meter?.at(n));
      if (!h || h.digest("hex") === exp.check!.hex) {
        await rm(part, { force: true });
        return { status: "verified", check: exp.check };
      }
    }
    ctx.log(`${path}: the existing file does not match the hub's checksum; downloading it again`);
    await rm(final, { force: true });
  }

  let discardPart = false;
  let restartedAfterMismatch = false;
  let resumedAny = false;
  for (let attempt = 0; ; ) {
    if (discardPart) await rm(part, { force: true });
    discardPart = false;
    let start = (await sizeOf(part)) ?? 0;
    if (start > exp.size) {
      await rm(part, { force: true });
      start = 0;
    }
    ctx.lastFailure = null;
    ctx.rangeRefused = false;
    let pos = start;
    let h: Hash | null = null;
    // Nothing to fetch for an empty file (and a Range probe of it would be a 416).
    if (exp.size === 0) await writeFile(part, "");
    try {
      if (start < exp.size) {
        const info = await fileDownloadInfo({ repo: ctx.repo, path, revision: ctx.commit, hubUrl: ctx.endpoint, fetch: ctx.fetch, ...ctx.cred });
        if (!info) throw new PullError(`${path} is in the file listing of ${ctx.repo}@${ctx.commit} but the hub says it does not exist`);
        if (info.size !== exp.size) {
          throw new PullError(`${path}: the hub lists ${exp.size} bytes but serves ${info.size}`);
        }
        if (!exp.check) {
          // No oid in the listing: take the sha256 from the ETag when it is one (X-Linked-Etag of LFS files).
          const etag = info.etag.replace(/^W\//, "").replace(/"/g, "");
          if (/^[0-9a-f]{64}$/i.test(etag)) exp = { ...exp, check: { algo: "sha256", hex: etag.toLowerCase() } };
        }
        h = await startHash(ctx, path, part, start, exp, meter);
        resumedAny ||= start > 0;
        const blob = await downloadFile({
          repo: ctx.repo,
          path,
          revision: ctx.commit,
          hubUrl: ctx.endpoint,
          fetch: ctx.fetch,
          ...ctx.cred,
          downloadInfo: info,
          xet: false,
        });
        if (!blob) throw new PullError(`${path} not found in ${ctx.repo}@${ctx.commit}`);
        // Blob.slice(start) on the library's WebBlob = an HTTP Range request from `start`.
        const body = (start > 0 ? blob.slice(start) : blob).stream();
        const fh = await open(part, start > 0 ? "a" : "w");
        try {
          for await (const chunk of body as AsyncIterable<Uint8Array>) {
            h?.update(chunk);
            await fh.write(chunk);
            pos += chunk.byteLength;
            ctx.bytesDownloaded += chunk.byteLength;
            meter?.at(pos);
          }
        } finally {
          await fh.close();
        }
        if (pos !== exp.size) throw new Error(`connection ended after ${pos} of ${exp.size} bytes`);
      } else {
        // A complete .part (a run stopped before its rename) or an empty file.
        h = await startHash(ctx, path, part, start, exp, meter);
        resumedAny ||= start > 0;
      }
    } catch (e) {
      if (ctx.rangeRefused) {
        ctx.log(`${path}: the server does not honour Range requests; downloading it from the start`);
        discardPart = true;
        continue; // not a network failure: no attempt used
      }
      const fatal = explain(ctx, e, `file ${path}`);
      if (fatal) throw fatal;
      if (attempt >= ctx.retries) {
        const kept = (await sizeOf(part)) ?? 0;
        throw new PullError(
          `download of ${path} failed after ${attempt + 1} attempt(s): ${describe(e)}` +
            (kept > 0 ? `; ${kept} bytes kept in ${part} — run the same command again to resume` : ""),
        );
      }
      ctx.log(`${path}: ${describe(e)}; retrying (${attempt + 1}/${ctx.retries})`);
      await sleep(ctx.retryDelayMs * 2 ** attempt);
      attempt++;
      continue;
    }

    const got = h?.digest("hex");
    if (exp.check && got !== exp.check.hex) {
      await rm(part, { force: true });
      if (start > 0 && !restartedAfterMismatch) {
        // The old .part may come from other content (another revision, a damaged disk): start over once.
        ctx.log(`${path}: checksum mismatch after resuming from a partial file; downloading it from the start`);
        restartedAfterMismatch = true;
        continue;
      }
      throw new ChecksumError(path, exp.check.algo, exp.check.hex, got ?? "");
    }
    await rename(part, final);
    return { status: resumedAny ? "resumed" : "downloaded", check: exp.check };
  }
}

/** Downloads the checkpoint; see the file comment. */
export async function pullModel(opts: PullOptions): Promise<PullResult> {
  if (!REPO_ID.test(opts.repo)) throw new PullError(`repository id must look like ORG/NAME, got ${JSON.stringify(opts.repo)}`);
  const revision = opts.revision ?? "main";
  const endpoint = (opts.endpoint ?? DEFAULT_ENDPOINT).replace(/\/+$/, "");
  try {
    new URL(endpoint);
  } catch {
    throw new PullError(`HF_ENDPOINT is not a URL: ${JSON.stringify(endpoint)}`);
  }
  const token = opts.token || undefined;
  const out = resolve(opts.out);
  const ctx: Ctx = {
    repo: opts.repo,
    commit: revision,
    out,
    endpoint,
    hasToken: Boolean(token),
    cred: token?.startsWith("hf_") ? { accessToken: token } : {},
    fetch: fetch,
    lastFailure: null,
    rangeRefused: false,
    retries: opts.retries ?? 3,
    retryDelayMs: opts.retryDelayMs ?? 1000,
    log: opts.log ?? (() => undefined),
    bytesDownloaded: 0,
  };
  ctx.fetch = wrapFetch(ctx, opts.fetch ?? globalThis.fetch, token && !token.startsWith("hf_") ? token : undefined);
  const hub = { hubUrl: endpoint, fetch: ctx.fetch, ...ctx.cred };

  // 1. Pin the revision to a commit.
  const info = await withRetries(ctx, `model info of ${opts.repo}@${revision}`, () =>
    modelInfo({ name: opts.repo, revision, additionalFields: ["sha"], ...hub }),
  );
  ctx.commit = typeof info.sha === "string" && /^[0-9a-f]{40}$/i.test(info.sha) ? info.sha : revision;

  // 2. List the files at that commit.
  const entries = await withRetries(ctx, `file list of ${opts.repo}@${revision}`, async () => {
    const m = new Map<string, ListFileEntry>();
    for await (const e of listFiles({ repo: opts.repo, revision: ctx.commit, recursive: true, ...hub })) {
      if (e.type === "file") m.set(e.path, e);
    }
    return m;
  });

  // 3. Decide what to fetch.
  for (const f of REQUIRED_FILES) {
    if (!entries.has(f)) throw new PullError(`${opts.repo}@${revision} has no ${f}; steerguard needs ${REQUIRED_FILES.join(", ")} and safetensors weights`);
  }
  const plan: string[] = [...REQUIRED_FILES, ...OPTIONAL_FILES.filter((f) => entries.has(f))];
  await mkdir(out, { recursive: true });
  const early = new Map<string, FileStatus>();
  if (entries.has(WEIGHTS_INDEX)) {
    early.set(WEIGHTS_INDEX, (await fetchFile(ctx, WEIGHTS_INDEX, expectedOf(entries.get(WEIGHTS_INDEX)!), null)).status);
    const shards = await readShards(join(out, WEIGHTS_INDEX));
    for (const s of shards) {
      if (!entries.has(s)) throw new PullError(`${WEIGHTS_INDEX} lists ${s}, which is not in ${opts.repo}@${revision}`);
    }
    plan.push(WEIGHTS_INDEX, ...shards);
  } else if (entries.has(SINGLE_WEIGHTS)) {
    plan.push(SINGLE_WEIGHTS);
  } else {
    throw new PullError(
      `${opts.repo}@${revision} has no ${SINGLE_WEIGHTS} or ${WEIGHTS_INDEX} (only safetensors checkpoints are supported)`,
    );
  }

  // 4. Fetch, small files first.
  const total = plan.reduce((a, p) => a + expectedOf(entries.get(p)!).size, 0);
  const meter = new Meter(total, opts.repo, opts.progress === undefined ? process.stderr : opts.progress);
  const files: PulledFile[] = [];
  for (const p of plan) {
    const exp = expectedOf(entries.get(p)!);
    // The index, fetched before the plan was known, is only re-verified here (and counted on the bar).
    const { status, check } = await fetchFile(ctx, p, exp, meter);
    files.push({ path: p, size: exp.size, status: early.get(p) ?? status, check });
  }
  meter.finish();
  return { repo: opts.repo, revision, commit: ctx.commit, out, files, bytesDownloaded: ctx.bytesDownloaded };
}

async function readShards(indexPath: string): Promise<string[]> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(indexPath, "utf8"));
  } catch (e) {
    throw new PullError(`${WEIGHTS_INDEX} is not valid JSON: ${(e as Error).message}`);
  }
  const map = (parsed as { weight_map?: unknown } | null)?.weight_map;
  if (!map || typeof map !== "object" || Array.isArray(map)) throw new PullError(`${WEIGHTS_INDEX} has no weight_map object`);
  const shards = new Set<string>();
  for (const v of Object.values(map)) {
    if (typeof v !== "string" || !v.endsWith(".safetensors")) {
      throw new PullError(`${WEIGHTS_INDEX} maps a tensor to ${JSON.stringify(v)}, not a .safetensors file`);
    }
    shards.add(v);
  }
  if (shards.size === 0) throw new PullError(`${WEIGHTS_INDEX} has an empty weight_map`);
  return [...shards].sort();
}
