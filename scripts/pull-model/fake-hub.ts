/**
 * A local imitation of the Hugging Face hub endpoints that @huggingface/hub's
 * modelInfo / listFiles / fileDownloadInfo / downloadFile call, for tests
 * (there is no internet on these machines). Test-only; not used by the CLI.
 *
 *   GET  /api/models/ORG/NAME/revision/REV?expand=...   model info (with `sha`)
 *   GET  /api/models/ORG/NAME/tree/REV?recursive=..      file listing, paginated
 *                                                        with `Link: <..>; rel="next"`
 *   HEAD|GET /ORG/NAME/resolve/REV/PATH                  regular files: served here
 *                                                        (ETag = git blob sha1);
 *                                                        LFS files (*.safetensors):
 *                                                        302 to /cdn-lfs/SHA256 with
 *                                                        X-Linked-Etag / X-Linked-Size
 *   HEAD|GET /cdn-lfs/SHA256?repo=..&file=..&sig=..      the "CDN": bytes with Range
 *
 * Errors use the hub's JSON body `{"error": ...}` and `X-Error-Code` header
 * (RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo). As on the real
 * hub, a gated repo's metadata and tree are public, its files need a token
 * (401 without one, 403 with a token that was not granted access); an
 * invalid token is a 401 on every endpoint.
 *
 * Fault injection (`hub.faults`) cuts a connection mid-file, serves corrupted
 * bytes, or ignores Range; `hub.requests` records every request.
 */
import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface FakeRepo {
  /** path → content */
  files: Record<string, Uint8Array>;
  /** metadata and tree public, files need a granted token */
  gated?: boolean;
  /** everything needs a granted token; others see RepoNotFound */
  private?: boolean;
  /** tokens granted access (gated / private); default: every valid token */
  granted?: string[];
  /** a listing without `oid` / `lfs` (as some mirrors serve); clients must fall back to the ETag */
  noOids?: boolean;
  /** extra branch/tag names besides "main" */
  branches?: string[];
}

export interface FakeHubOptions {
  repos: Record<string, FakeRepo>;
  /** tokens the hub accepts at all */
  tokens?: string[];
  /** tree entries per page (the real hub pages at 1000; small here to exercise Link) */
  pageSize?: number;
}

export type Fault =
  /** send `after` bytes of the body, then drop the connection; `times` (default 1) */
  | { kind: "cut"; repo: string; path: string; after: number; times?: number }
  /** serve the bytes with one byte flipped (headers still describe the good file) */
  | { kind: "corrupt"; repo: string; path: string }
  /** answer Range requests that start past byte 0 with 200 and the whole file (the 1-byte probe still works) */
  | { kind: "ignore-range"; repo: string; path: string };

export interface RecordedRequest {
  method: string;
  path: string;
  range?: string;
  authorization?: string;
  status: number;
  /** for file bodies: which repo file was served */
  file?: string;
}

export interface FakeHub {
  url: string;
  requests: RecordedRequest[];
  faults: Fault[];
  /** commit sha of a repo (what "main" resolves to) */
  commit(repo: string): string;
  close(): Promise<void>;
}

const isLfs = (path: string) => /\.(safetensors|bin|pt|pth|onnx|gguf)$/.test(path);
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const gitBlobSha1 = (b: Uint8Array) =>
  createHash("sha1").update(`blob ${b.byteLength}\0`).update(b).digest("hex");

export async function startFakeHub(opts: FakeHubOptions): Promise<FakeHub> {
  const requests: RecordedRequest[] = [];
  const faults: Fault[] = [];
  const tokens = new Set(opts.tokens ?? []);
  const pageSize = opts.pageSize ?? 1000;
  const commits = new Map<string, string>();
  for (const [name, repo] of Object.entries(opts.repos)) {
    const h = createHash("sha1").update(name);
    for (const p of Object.keys(repo.files).sort()) h.update(p).update(repo.files[p]);
    commits.set(name, h.digest("hex"));
  }

  const server: Server = createServer((req, res) => {
    const rec: RecordedRequest = {
      method: req.method ?? "GET",
      path: req.url ?? "/",
      range: req.headers.range,
      authorization: req.headers.authorization,
      status: 0,
    };
    requests.push(rec);
    res.on("finish", () => (rec.status = res.statusCode));
    res.on("close", () => (rec.status ||= res.statusCode));
    try {
      handle(req, res, rec);
    } catch (e) {
      sendError(res, 500, "InternalError", (e as Error).message);
    }
  });

  function sendError(res: ServerResponse, status: number, code: string | undefined, message: string): void {
    const body = JSON.stringify({ error: message });
    res.writeHead(status, {
      "Content-Type": "application/json; charset=utf-8",
      "Content-Length": Buffer.byteLength(body),
      ...(code ? { "X-Error-Code": code, "X-Error-Message": message } : {}),
    });
    res.end(body);
  }

  function sendJson(res: ServerResponse, value: unknown, extra: Record<string, string> = {}): void {
    const body = JSON.stringify(value);
    res.writeHead(200, { "Content-Type": "application/json; charset=utf-8", "Content-Length": Buffer.byteLength(body), ...extra });
    res.end(body);
  }

  /** Checks the bearer token; returns false after answering when access is denied. */
  function authorize(req: IncomingMessage, res: ServerResponse, name: string, forFile: boolean): boolean {
    const repo = opts.repos[name];
    const auth = req.headers.authorization;
    let token: string | undefined;
    if (auth !== undefined) {
      const m = /^Bearer (\S+)$/.exec(auth);
      if (!m || !tokens.has(m[1])) {
        sendError(res, 401, undefined, "Invalid credentials in Authorization header");
        return false;
      }
      token = m[1];
    }
    if (!repo) {
      // Like the hub: anonymous callers get a 401 (private repos are not revealed), others a 404.
      sendError(res, token ? 404 : 401, "RepoNotFound", "Repository not found");
      return false;
    }
    const granted = token !== undefined && (repo.granted ? repo.granted.includes(token) : true);
    if (repo.private && !granted) {
      sendError(res, token ? 404 : 401, "RepoNotFound", "Repository not found");
      return false;
    }
    if (repo.gated && forFile && !granted) {
      const msg = `Access to model ${name} is restricted${token ? " and you are not in the authorized list" : ". You must have access to it and be authenticated to access it. Please log in."}`;
      sendError(res, token ? 403 : 401, "GatedRepo", msg);
      return false;
    }
    return true;
  }

  function resolveRevision(name: string, rev: string): string | undefined {
    const commit = commits.get(name)!;
    const repo = opts.repos[name];
    if (rev === "main" || rev === "HEAD" || rev === commit || (repo.branches ?? []).includes(rev)) return commit;
    return undefined;
  }

  function fault(kind: Fault["kind"], repo: string, path: string): Fault | undefined {
    return faults.find((f) => f.kind === kind && f.repo === repo && f.path === path && (f.kind !== "cut" || (f.times ?? 1) > 0));
  }

  /** Serves bytes with Range support and the configured faults. */
  function serveBytes(
    req: IncomingMessage,
    res: ServerResponse,
    rec: RecordedRequest,
    repo: string,
    path: string,
    data: Uint8Array,
    headers: Record<string, string>,
  ): void {
    rec.file = `${repo}/${path}`;
    let body = Buffer.from(data);
    if (fault("corrupt", repo, path)) {
      body = Buffer.from(body);
      body[body.length >> 1] ^= 0xff;
    }
    const size = body.length;
    let start = 0;
    let end = size - 1;
    let status = 200;
    const range = req.headers.range;
    if (range && !(fault("ignore-range", repo, path) && !/^bytes=0-/.test(range.trim()))) {
      const m = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
      if (!m || (m[1] === "" && m[2] === "")) {
        res.writeHead(416, { "Content-Range": `bytes */${size}` });
        res.end();
        return;
      }
      if (m[1] === "") {
        start = Math.max(0, size - Number(m[2]));
      } else {
        start = Number(m[1]);
        if (m[2] !== "") end = Math.min(end, Number(m[2]));
      }
      if (start >= size || start > end) {
        res.writeHead(416, { "Content-Range": `bytes */${size}` });
        res.end();
        return;
      }
      status = 206;
    }
    const slice = body.subarray(start, end + 1);
    res.writeHead(status, {
      ...headers,
      "Accept-Ranges": "bytes",
      "Content-Type": "application/octet-stream",
      "Content-Length": String(slice.length),
      ...(status === 206 ? { "Content-Range": `bytes ${start}-${end}/${size}` } : {}),
    });
    if (req.method === "HEAD") {
      res.end();
      return;
    }
    const cut = fault("cut", repo, path) as Extract<Fault, { kind: "cut" }> | undefined;
    if (cut && slice.length > cut.after) {
      cut.times = (cut.times ?? 1) - 1;
      res.write(slice.subarray(0, cut.after), () => {
        // Give the bytes a moment to leave, then drop the connection mid-body.
        setTimeout(() => res.socket?.destroy(), 20);
      });
      return;
    }
    res.end(slice);
  }

  function handle(req: IncomingMessage, res: ServerResponse, rec: RecordedRequest): void {
    const url = new URL(req.url ?? "/", "http://localhost");
    const parts = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);

    // /api/models/ORG/NAME/revision/REV  and  /api/models/ORG/NAME/tree/REV[/PATH]
    if (parts[0] === "api" && parts[1] === "models" && parts.length >= 6 && req.method === "GET") {
      const name = `${parts[2]}/${parts[3]}`;
      if (!authorize(req, res, name, false)) return;
      const repo = opts.repos[name];
      const commit = resolveRevision(name, parts[5]);
      if (!commit) return sendError(res, 404, "RevisionNotFound", `Invalid rev id: ${parts[5]}`);
      if (parts[4] === "revision") {
        return sendJson(res, {
          _id: commit.slice(0, 24),
          id: name,
          sha: commit,
          private: Boolean(repo.private),
          gated: repo.gated ? "auto" : false,
          downloads: 0,
          likes: 0,
          lastModified: "2026-01-01T00:00:00.000Z",
          pipeline_tag: "text-generation",
          siblings: Object.keys(repo.files).sort().map((rfilename) => ({ rfilename })),
        });
      }
      if (parts[4] === "tree") {
        const prefix = parts.slice(6).join("/");
        const recursive = url.searchParams.get("recursive") === "true" || url.searchParams.get("recursive") === "1";
        const entries: unknown[] = [];
        const dirs = new Set<string>();
        for (const [p, b] of Object.entries(repo.files).sort(([a], [c]) => a.localeCompare(c))) {
          if (prefix && !p.startsWith(`${prefix}/`)) continue;
          const rel = prefix ? p.slice(prefix.length + 1) : p;
          if (!recursive && rel.includes("/")) {
            const dir = (prefix ? `${prefix}/` : "") + rel.split("/")[0];
            if (!dirs.has(dir)) {
              dirs.add(dir);
              entries.push({ type: "directory", oid: createHash("sha1").update(dir).digest("hex"), size: 0, path: dir });
            }
            continue;
          }
          if (isLfs(p)) {
            const pointer = `version https://git-lfs.github.com/spec/v1\noid sha256:${sha256(b)}\nsize ${b.byteLength}\n`;
            entries.push({
              type: "file",
              oid: gitBlobSha1(Buffer.from(pointer)),
              size: b.byteLength,
              path: p,
              lfs: { oid: sha256(b), size: b.byteLength, pointerSize: pointer.length },
            });
          } else {
            entries.push({ type: "file", oid: gitBlobSha1(b), size: b.byteLength, path: p });
          }
        }
        if (repo.noOids) for (const e of entries as Record<string, unknown>[]) (delete e.oid, delete e.lfs);
        const cursor = Number(url.searchParams.get("cursor") ?? "0");
        const page = entries.slice(cursor, cursor + pageSize);
        const extra: Record<string, string> = {};
        if (cursor + pageSize < entries.length) {
          const next = new URL(`http://${req.headers.host}${url.pathname}`);
          for (const [k, v] of url.searchParams) if (k !== "cursor") next.searchParams.set(k, v);
          next.searchParams.set("cursor", String(cursor + pageSize));
          extra.Link = `<${next.href}>; rel="next"`;
        }
        return sendJson(res, page, extra);
      }
      return sendError(res, 404, undefined, "Not found");
    }

    // /ORG/NAME/resolve/REV/PATH
    if (parts.length >= 5 && parts[2] === "resolve" && (req.method === "GET" || req.method === "HEAD")) {
      const name = `${parts[0]}/${parts[1]}`;
      if (!authorize(req, res, name, true)) return;
      const commit = resolveRevision(name, parts[3]);
      if (!commit) return sendError(res, 404, "RevisionNotFound", `Invalid rev id: ${parts[3]}`);
      const path = parts.slice(4).join("/");
      const data = opts.repos[name].files[path];
      if (!data) return sendError(res, 404, "EntryNotFound", `${path} does not exist on "${parts[3]}"`);
      const common = { "X-Repo-Commit": commit };
      if (isLfs(path)) {
        const oid = sha256(data);
        // Like a signed CDN URL: the query names the object (repo and file, for fault injection).
        const q = new URLSearchParams({ repo: name, file: path, sig: randomBytes(6).toString("hex") });
        const location = `/cdn-lfs/${oid}?${q}`;
        res.writeHead(302, {
          ...common,
          Location: location,
          ETag: `"${gitBlobSha1(Buffer.from(oid))}"`,
          "X-Linked-Etag": `"${oid}"`,
          "X-Linked-Size": String(data.byteLength),
          "Content-Length": "0",
        });
        res.end();
        return;
      }
      return serveBytes(req, res, rec, name, path, data, { ...common, ETag: `"${gitBlobSha1(data)}"` });
    }

    // /cdn-lfs/SHA256 — signed CDN URL, no auth needed
    if (parts[0] === "cdn-lfs" && parts.length === 2 && (req.method === "GET" || req.method === "HEAD")) {
      const repo = url.searchParams.get("repo") ?? "";
      const file = url.searchParams.get("file") ?? "";
      const data = opts.repos[repo]?.files[file];
      if (!data || sha256(data) !== parts[1] || !url.searchParams.get("sig")) return sendError(res, 403, undefined, "Access denied");
      return serveBytes(req, res, rec, repo, file, data, { ETag: `"${parts[1]}"` });
    }

    sendError(res, 404, undefined, "Not found");
  }

  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    faults,
    commit: (repo) => commits.get(repo)!,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

/** A seeded tiny Llama-shaped checkpoint: safetensors bytes sharded into `shards` files. */
export function makeTinyCheckpoint(opts: { seed?: number; shards?: number; hidden?: number; layers?: number } = {}): {
  shards: Record<string, Uint8Array>;
  single: Uint8Array;
  index: Uint8Array;
} {
  const hidden = opts.hidden ?? 64;
  const layers = opts.layers ?? 4;
  const nShards = opts.shards ?? 2;
  let s = (opts.seed ?? 1) >>> 0;
  const rand = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
  };
  const tensors: { name: string; shape: number[] }[] = [{ name: "model.embed_tokens.weight", shape: [256, hidden] }];
  for (let l = 0; l < layers; l++) {
    for (const w of ["q_proj", "k_proj", "v_proj", "o_proj"]) tensors.push({ name: `model.layers.${l}.self_attn.${w}.weight`, shape: [hidden, hidden] });
    for (const w of ["gate_proj", "up_proj"]) tensors.push({ name: `model.layers.${l}.mlp.${w}.weight`, shape: [2 * hidden, hidden] });
    tensors.push({ name: `model.layers.${l}.mlp.down_proj.weight`, shape: [hidden, 2 * hidden] });
    tensors.push({ name: `model.layers.${l}.input_layernorm.weight`, shape: [hidden] });
    tensors.push({ name: `model.layers.${l}.post_attention_layernorm.weight`, shape: [hidden] });
  }
  tensors.push({ name: "model.norm.weight", shape: [hidden] });
  const data = new Map(
    tensors.map((t) => {
      const n = t.shape.reduce((a, b) => a * b, 1);
      const f = new Float32Array(n);
      for (let i = 0; i < n; i++) f[i] = rand() * 0.1;
      return [t.name, new Uint8Array(f.buffer)];
    }),
  );
  const encode = (list: typeof tensors): Uint8Array => {
    const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
    let offset = 0;
    for (const t of list) {
      const len = data.get(t.name)!.byteLength;
      header[t.name] = { dtype: "F32", shape: t.shape, data_offsets: [offset, offset + len] };
      offset += len;
    }
    let json = JSON.stringify(header);
    json += " ".repeat((8 - (json.length % 8)) % 8);
    const out = new Uint8Array(8 + json.length + offset);
    new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
    out.set(Buffer.from(json), 8);
    let at = 8 + json.length;
    for (const t of list) {
      out.set(data.get(t.name)!, at);
      at += data.get(t.name)!.byteLength;
    }
    return out;
  };
  const shards: Record<string, Uint8Array> = {};
  const weightMap: Record<string, string> = {};
  const per = Math.ceil(tensors.length / nShards);
  let total = 0;
  for (let i = 0; i < nShards; i++) {
    const file = `model-${String(i + 1).padStart(5, "0")}-of-${String(nShards).padStart(5, "0")}.safetensors`;
    const list = tensors.slice(i * per, (i + 1) * per);
    shards[file] = encode(list);
    for (const t of list) {
      weightMap[t.name] = file;
      total += data.get(t.name)!.byteLength;
    }
  }
  const index = Buffer.from(JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2));
  return { shards, single: encode(tensors), index };
}
