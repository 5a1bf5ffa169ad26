import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { makeTinyCheckpoint, startFakeHub, type FakeHub } from "./fake-hub.ts";
import { ChecksumError, pullModel, PullError, type PullOptions } from "./pull.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CLI = fileURLToPath(new URL("./index.ts", import.meta.url));
const TOKEN = "hf_testtoken0123456789";
const OTHER_TOKEN = "hf_othertoken987654321";
const MIRROR_TOKEN = "mirror-token-42"; // not hf_-prefixed: the library would refuse it; we send it ourselves

const ckpt = makeTinyCheckpoint({ seed: 7, shards: 2, hidden: 96, layers: 4 });
const shardNames = Object.keys(ckpt.shards).sort();
const text = (s: string) => Buffer.from(s);
const common: Record<string, Uint8Array> = {
  "config.json": text(JSON.stringify({ architectures: ["LlamaForCausalLM"], model_type: "llama", hidden_size: 96 })),
  "generation_config.json": text(JSON.stringify({ bos_token_id: 1, eos_token_id: 2 })),
  "tokenizer.json": text(JSON.stringify({ version: "1.0", model: { type: "BPE", vocab: { a: 0 }, merges: [] } })),
  "tokenizer_config.json": text(JSON.stringify({ bos_token: "<s>", eos_token: "</s>" })),
  "special_tokens_map.json": new Uint8Array(0), // empty files exist; nothing to range-probe
  "chat_template.jinja": text("{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}"),
  "README.md": text("# tiny\n"),
  "pytorch_model.bin": text("not wanted"),
  "original/params.json": text("{}"),
};
const sharded: Record<string, Uint8Array> = { ...common, "model.safetensors.index.json": ckpt.index, ...ckpt.shards };
const single: Record<string, Uint8Array> = { ...common, "model.safetensors": ckpt.single };

let hub: FakeHub;
let tmp: string;

beforeAll(async () => {
  hub = await startFakeHub({
    tokens: [TOKEN, OTHER_TOKEN, MIRROR_TOKEN],
    pageSize: 4, // the listing comes in several pages (Link: rel="next")
    repos: {
      "tiny-org/tiny-llama": { files: sharded, branches: ["v1"] },
      "tiny-org/resume-llama": { files: sharded },
      "tiny-org/corrupt-llama": { files: sharded },
      "tiny-org/norange-llama": { files: sharded },
      "tiny-org/gated-llama": { files: single, gated: true, granted: [TOKEN, MIRROR_TOKEN] },
      "tiny-org/no-weights": { files: common },
      "tiny-org/no-oids": { files: sharded, noOids: true },
    },
  });
  tmp = await mkdtemp(join(tmpdir(), "pull-model-"));
});

afterAll(async () => {
  await hub?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

beforeEach(() => {
  hub.requests.length = 0;
  hub.faults.length = 0;
});

let n = 0;
const freshDir = () => join(tmp, `out-${n++}`);
const opts = (repo: string, out: string, extra: Partial<PullOptions> = {}): PullOptions => ({
  repo,
  out,
  endpoint: hub.url,
  progress: null,
  retryDelayMs: 5,
  ...extra,
});

async function expectFiles(dir: string, files: Record<string, Uint8Array>, wanted: string[]): Promise<void> {
  const got = (await readdir(dir, { recursive: true })).map(String).sort();
  expect(got).toEqual([...wanted].sort());
  for (const f of wanted) expect(Buffer.compare(await readFile(join(dir, f)), Buffer.from(files[f]))).toBe(0);
}

const WANT_SHARDED = [
  "config.json",
  "generation_config.json",
  "tokenizer.json",
  "tokenizer_config.json",
  "chat_template.jinja",
  "special_tokens_map.json",
  "model.safetensors.index.json",
  ...shardNames,
];

/** Body requests (GETs that served a file's bytes, not the 1-byte probes) for `file`. */
const bodyGets = (file: string) =>
  hub.requests.filter((r) => r.method === "GET" && r.file?.endsWith(`/${file}`) && r.range !== "bytes=0-0");

function runCli(args: string[], env: Record<string, string | undefined>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((ok, fail) => {
    const childEnv: NodeJS.ProcessEnv = { ...process.env, HF_TOKEN: undefined, HUGGING_FACE_HUB_TOKEN: undefined, HF_ENDPOINT: hub.url, ...env };
    for (const k of Object.keys(childEnv)) if (childEnv[k] === undefined) delete childEnv[k];
    // async spawn: the fake hub lives in this process and must keep serving.
    const child = spawn(process.execPath, ["--import", "tsx", CLI, ...args], { cwd: ROOT, env: childEnv });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", fail);
    child.on("close", (code) => ok({ code, stdout, stderr }));
  });
}

/** Runs `fn` with process.stdout/stderr writes captured. */
async function capture(fn: () => Promise<number>): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = process.stdout.write;
  const err = process.stderr.write;
  let stdout = "";
  let stderr = "";
  process.stdout.write = ((c: string | Uint8Array) => ((stdout += String(c)), true)) as typeof process.stdout.write;
  process.stderr.write = ((c: string | Uint8Array) => ((stderr += String(c)), true)) as typeof process.stderr.write;
  try {
    return { code: await fn(), stdout, stderr };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
}

describe("pullModel against a fake hub", () => {
  it("downloads a sharded checkpoint with the right bytes, and only the files it needs", async () => {
    const out = freshDir();
    const res = await pullModel(opts("tiny-org/tiny-llama", out));
    await expectFiles(out, sharded, WANT_SHARDED);
    expect(res.commit).toBe(hub.commit("tiny-org/tiny-llama"));
    expect(res.files.map((f) => f.status)).toEqual(WANT_SHARDED.map(() => "downloaded"));
    const shard = res.files.find((f) => f.path === shardNames[0])!;
    expect(shard.check?.algo).toBe("sha256");
    expect(res.files.find((f) => f.path === "config.json")!.check?.algo).toBe("git-sha1");
    // Pinned to the commit after the revision lookup; the listing was paginated.
    const paths = hub.requests.map((r) => r.path);
    expect(paths[0]).toMatch(/^\/api\/models\/tiny-org\/tiny-llama\/revision\/main\?/);
    expect(paths.filter((p) => p.includes("/tree/")).length).toBeGreaterThan(1);
    expect(paths.filter((p) => p.includes("/resolve/")).every((p) => p.includes(`/resolve/${res.commit}/`))).toBe(true);
    // LFS files went through the CDN redirect; nothing else was fetched.
    expect(hub.requests.some((r) => r.path.startsWith("/cdn-lfs/"))).toBe(true);
    expect(paths.some((p) => p.includes("pytorch_model.bin") || p.includes("README.md") || p.includes("original/"))).toBe(false);

    // A second run finds everything complete and verified: no file bodies are fetched.
    hub.requests.length = 0;
    const again = await pullModel(opts("tiny-org/tiny-llama", out, { revision: "v1" }));
    expect(again.files.every((f) => f.status === "verified")).toBe(true);
    expect(again.bytesDownloaded).toBe(0);
    expect(hub.requests.filter((r) => r.file).length).toBe(0);
  });

  it("resumes an interrupted download from the .part file with a Range request", async () => {
    const out = freshDir();
    const [first, second] = shardNames;
    const size = ckpt.shards[second].byteLength;
    hub.faults.push({ kind: "cut", repo: "tiny-org/resume-llama", path: second, after: Math.floor(size / 3) });
    const err = await pullModel(opts("tiny-org/resume-llama", out, { retries: 0 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PullError);
    expect(String((err as Error).message)).toMatch(/run the same command again to resume/);
    const partSize = (await stat(join(out, `${second}.part`))).size;
    expect(partSize).toBeGreaterThan(0);
    expect(partSize).toBeLessThan(size);
    expect(existsSync(join(out, second))).toBe(false);
    expect(existsSync(join(out, first))).toBe(true);

    hub.requests.length = 0;
    const res = await pullModel(opts("tiny-org/resume-llama", out, { retries: 0 }));
    await expectFiles(out, sharded, WANT_SHARDED);
    expect(res.files.find((f) => f.path === second)!.status).toBe("resumed");
    expect(res.files.find((f) => f.path === first)!.status).toBe("verified");
    expect(bodyGets(first)).toHaveLength(0); // the finished shard was not downloaded again
    const gets = bodyGets(second);
    expect(gets.map((r) => r.range)).toEqual([`bytes=${partSize}-${size - 1}`]);
    expect(gets[0].status).toBe(206);
    expect(res.bytesDownloaded).toBe(size - partSize);
  });

  it("retries within one run after a dropped connection, continuing with Range", async () => {
    const out = freshDir();
    const shard = shardNames[0];
    const size = ckpt.shards[shard].byteLength;
    hub.faults.push({ kind: "cut", repo: "tiny-org/resume-llama", path: shard, after: 1000, times: 2 });
    const notes: string[] = [];
    const res = await pullModel(opts("tiny-org/resume-llama", out, { retries: 3, log: (m) => notes.push(m) }));
    await expectFiles(out, sharded, WANT_SHARDED);
    expect(res.files.find((f) => f.path === shard)!.status).toBe("resumed");
    const ranges = bodyGets(shard).map((r) => r.range);
    expect(ranges[0]).toBeUndefined();
    expect(ranges.slice(1).every((r) => /^bytes=\d+-\d+$/.test(r ?? "") && !r!.startsWith("bytes=0-"))).toBe(true);
    expect(ranges).toHaveLength(3);
    expect(notes.some((m) => m.includes("retrying"))).toBe(true);
    // The bytes before each cut were kept: every byte of the checkpoint came over the wire exactly once.
    expect(res.bytesDownloaded).toBe(WANT_SHARDED.reduce((a, f) => a + sharded[f].byteLength, 0));
    expect(size).toBeGreaterThan(3000);
  });

  it("fails clearly on a checksum mismatch and leaves no file behind", async () => {
    const out = freshDir();
    const bad = shardNames[1];
    hub.faults.push({ kind: "corrupt", repo: "tiny-org/corrupt-llama", path: bad });
    const err = await pullModel(opts("tiny-org/corrupt-llama", out)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChecksumError);
    const want = createHash("sha256").update(ckpt.shards[bad]).digest("hex");
    expect((err as Error).message).toContain(`checksum mismatch for ${bad}: expected sha256 ${want}`);
    expect(existsSync(join(out, bad))).toBe(false);
    expect(existsSync(join(out, `${bad}.part`))).toBe(false);
    // Corrupt bytes are not retried into a loop: one body download.
    expect(bodyGets(bad)).toHaveLength(1);
  });

  it("discards a stale .part that does not verify and downloads from scratch", async () => {
    const out = freshDir();
    await pullModel(opts("tiny-org/tiny-llama", out));
    const shard = shardNames[0];
    await rm(join(out, shard));
    await writeFile(join(out, `${shard}.part`), Buffer.alloc(5000, 7)); // from "another revision"
    hub.requests.length = 0;
    const res = await pullModel(opts("tiny-org/tiny-llama", out));
    await expectFiles(out, sharded, WANT_SHARDED);
    expect(res.files.find((f) => f.path === shard)!.status).toBe("resumed");
    expect(bodyGets(shard).map((r) => r.range)).toEqual([`bytes=5000-${ckpt.shards[shard].byteLength - 1}`, undefined]);
  });

  it("starts over when the server ignores Range instead of appending the whole file", async () => {
    const out = freshDir();
    const shard = shardNames[1];
    hub.faults.push({ kind: "cut", repo: "tiny-org/norange-llama", path: shard, after: 4096 });
    await expect(pullModel(opts("tiny-org/norange-llama", out, { retries: 0 }))).rejects.toThrow(PullError);
    hub.faults.length = 0;
    hub.faults.push({ kind: "ignore-range", repo: "tiny-org/norange-llama", path: shard });
    hub.requests.length = 0;
    await pullModel(opts("tiny-org/norange-llama", out, { retries: 0 }));
    await expectFiles(out, sharded, WANT_SHARDED);
    expect(bodyGets(shard).map((r) => [r.range?.startsWith("bytes=4096-") ?? false, r.status])).toEqual([
      [true, 200],
      [false, 200],
    ]);
  });

  it("falls back to the sha256 ETag when the listing has no oids", async () => {
    const out = freshDir();
    const bad = shardNames[0];
    hub.faults.push({ kind: "corrupt", repo: "tiny-org/no-oids", path: bad });
    await expect(pullModel(opts("tiny-org/no-oids", out))).rejects.toThrow(ChecksumError);
    hub.faults.length = 0;
    const res = await pullModel(opts("tiny-org/no-oids", out));
    await expectFiles(out, sharded, WANT_SHARDED);
    expect(res.files.find((f) => f.path === bad)!.check).toEqual({ algo: "sha256", hex: createHash("sha256").update(ckpt.shards[bad]).digest("hex") });
    expect(res.files.find((f) => f.path === "config.json")!.check).toBe(null);
  });

  it("sends HF_TOKEN as a bearer token; a gated repo refuses without it", async () => {
    const out = freshDir();
    const res = await pullModel(opts("tiny-org/gated-llama", out, { token: TOKEN }));
    await expectFiles(out, single, WANT_SHARDED.filter((f) => !f.startsWith("model")).concat("model.safetensors"));
    expect(res.files.map((f) => f.path)).toContain("model.safetensors");
    const hubRequests = hub.requests.filter((r) => !r.path.startsWith("/cdn-lfs/"));
    expect(hubRequests.length).toBeGreaterThan(3);
    expect(hubRequests.every((r) => r.authorization === `Bearer ${TOKEN}`)).toBe(true);

    const anon = await pullModel(opts("tiny-org/gated-llama", freshDir())).catch((e: unknown) => e);
    expect(anon).toBeInstanceOf(PullError);
    expect((anon as Error).message).toMatch(/gated repository and no HF_TOKEN was set/);
    expect(hub.requests.some((r) => r.status === 401 && r.path.includes("/resolve/"))).toBe(true);

    const other = await pullModel(opts("tiny-org/gated-llama", freshDir(), { token: OTHER_TOKEN })).catch((e: unknown) => e);
    expect((other as Error).message).toMatch(/HF_TOKEN has not been granted access to gated repository tiny-org\/gated-llama/);

    hub.requests.length = 0;
    await pullModel(opts("tiny-org/gated-llama", freshDir(), { token: MIRROR_TOKEN }));
    expect(hub.requests.filter((r) => r.path.includes("/resolve/")).every((r) => r.authorization === `Bearer ${MIRROR_TOKEN}`)).toBe(true);

    const invalid = await pullModel(opts("tiny-org/gated-llama", freshDir(), { token: "hf_nope" })).catch((e: unknown) => e);
    expect((invalid as Error).message).toMatch(/rejected HF_TOKEN \(invalid credentials\)/);
  });

  it("gives clear errors for a missing repo, revision, or weights", async () => {
    await expect(pullModel(opts("tiny-org/missing", freshDir()))).rejects.toThrow(
      `repository tiny-org/missing not found on ${hub.url} (no HF_TOKEN was set; if it is private, set HF_TOKEN)`,
    );
    await expect(pullModel(opts("tiny-org/missing", freshDir(), { token: TOKEN }))).rejects.toThrow(/repository tiny-org\/missing not found/);
    await expect(pullModel(opts("tiny-org/tiny-llama", freshDir(), { revision: "nope" }))).rejects.toThrow(
      /revision not found in tiny-org\/tiny-llama.*Invalid rev id: nope/,
    );
    await expect(pullModel(opts("tiny-org/no-weights", freshDir()))).rejects.toThrow(
      /has no model.safetensors or model.safetensors.index.json/,
    );
    await expect(pullModel(opts("tiny-org/tiny-llama", freshDir(), { endpoint: "http://127.0.0.1:1", retries: 0 }))).rejects.toThrow(
      /cannot fetch model info of tiny-org\/tiny-llama@main from http:\/\/127.0.0.1:1/,
    );
  });
});

describe("pull-model CLI", () => {
  it("downloads with HF_ENDPOINT and HF_TOKEN from the environment (child process)", async () => {
    const out = freshDir();
    const r = await runCli(["tiny-org/gated-llama", "--out", out, "--revision", "main"], { HF_TOKEN: TOKEN });
    expect(r.stderr).toMatch(/tiny-org\/gated-llama \(KiB\) \[#+\]/); // the progress bar, on stderr
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(out);
    expect(Buffer.compare(await readFile(join(out, "model.safetensors")), Buffer.from(single["model.safetensors"]))).toBe(0);
    expect(hub.requests.filter((r) => r.path.includes("/resolve/")).every((r) => r.authorization === `Bearer ${TOKEN}`)).toBe(true);

    // The same CLI in-process (a second child would only add start-up time): no token → exit 1, clear message.
    const { main } = await import("./index.ts");
    const { code, stdout, stderr } = await capture(() => main(["tiny-org/gated-llama", "--out", freshDir(), "--quiet"], { HF_ENDPOINT: hub.url }));
    expect(code).toBe(1);
    expect(stderr).toMatch(/^pull-model: error: tiny-org\/gated-llama is a gated repository and no HF_TOKEN was set/m);
    expect(stdout).toBe("");
  });

  it("--help prints usage; bad flags exit 2", async () => {
    // In-process: the child-process path is covered above, and each tsx start-up costs a second or more.
    const { main } = await import("./index.ts");
    const help = await capture(() => main(["--help"]));
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: npm run pull-model -- ORG\/NAME --out DIR/);
    expect(help.stdout).toContain("HF_ENDPOINT");

    const bad = async (argv: string[], env: NodeJS.ProcessEnv = {}, msg: RegExp) => {
      const r = await capture(() => main(argv, env));
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr).toContain("Usage: npm run pull-model");
    };
    await bad(["tiny-org/tiny-llama", "--out", freshDir(), "--bogus"], {}, /Unknown option '--bogus'/);
    await bad(["tiny-org/tiny-llama"], {}, /--out DIR is required/);
    await bad(["--out", freshDir()], {}, /missing repository ORG\/NAME/);
    await bad(["not-a-repo", "--out", freshDir()], {}, /repository must look like ORG\/NAME/);
    await bad(["tiny-org/tiny-llama", "--out", freshDir(), "--retries", "x"], {}, /--retries must be an integer/);
    await bad(["tiny-org/tiny-llama", "--out", freshDir()], { HF_ENDPOINT: "ftp://x" }, /HF_ENDPOINT must be an http\(s\) URL/);
  });
});
