/**
 * npm run pull-model -- ORG/NAME [--revision R] --out DIR
 *
 * Downloads a Hugging Face checkpoint (config, safetensors weights, tokenizer
 * files) into DIR, resumably and checksum-verified. See pull.ts.
 * Prints DIR on stdout when done; progress and notes go to stderr.
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseCli } from "../lib/cli.ts";
import { hubEnv, OPTIONAL_FILES, pullModel, REPO_ID, REQUIRED_FILES } from "./pull.ts";

const HELP = `Usage: npm run pull-model -- ORG/NAME --out DIR [options]

Downloads a Hugging Face checkpoint into DIR: ${REQUIRED_FILES.join(", ")},
model.safetensors or the shards of model.safetensors.index.json (plus the index),
and ${OPTIONAL_FILES.join(", ")} when present.

An interrupted download continues from DIR/FILE.part (HTTP Range) when run again;
files already complete are kept when their checksum verifies. Every file is
checked against the hub's listing (sha256 of LFS files, git blob sha1 of others).

  --out DIR           output directory (created)
  --revision R        branch, tag or commit (default: main); pinned to its commit
  --retries N         extra attempts per file after a network error (default: 3)
  --quiet             no progress bar or notes
  -h, --help          show this help

Environment:
  HF_TOKEN            access token, sent as "Authorization: Bearer" (gated/private repos)
  HF_ENDPOINT         hub base URL (default: https://huggingface.co)

Prints DIR on stdout when done. Exit codes: 0 done, 1 download failed, 2 bad usage.
`;

export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const parsed = parseCli(argv, {
    out: { type: "string" },
    revision: { type: "string" },
    retries: { type: "string" },
    quiet: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  }, HELP, { allowPositionals: true, prefix: "pull-model: " });
  if ("exit" in parsed) return parsed.exit;
  const { values, positionals } = parsed;
  const usage = (msg: string) => {
    process.stderr.write(`pull-model: ${msg}\n\n${HELP}`);
    return 2;
  };
  if (positionals.length !== 1) return usage(positionals.length ? `expected one repository, got ${positionals.join(" ")}` : "missing repository ORG/NAME");
  const repo = positionals[0];
  if (!REPO_ID.test(repo)) return usage(`repository must look like ORG/NAME, got ${JSON.stringify(repo)}`);
  if (!values.out) return usage("--out DIR is required");
  if (values.revision !== undefined && !/^[\w./-]+$/.test(values.revision)) return usage(`bad --revision ${JSON.stringify(values.revision)}`);
  let retries = 3;
  if (values.retries !== undefined) {
    retries = Number(values.retries);
    if (!/^\d+$/.test(values.retries) || retries > 100) return usage(`--retries must be an integer 0..100, got ${JSON.stringify(values.retries)}`);
  }
  const { endpoint, token } = hubEnv(env);
  try {
    const u = new URL(endpoint);
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error();
  } catch {
    return usage(`HF_ENDPOINT must be an http(s) URL, got ${JSON.stringify(endpoint)}`);
  }

  const out = resolve(values.out);
  const quiet = Boolean(values.quiet);
  const onSigint = () => {
    process.stderr.write(`\npull-model: interrupted; partial files are kept as ${out}/*.part — run the same command again to resume\n`);
    process.exit(130);
  };
  process.once("SIGINT", onSigint);
  try {
    const result = await pullModel({
      repo,
      revision: values.revision,
      out,
      endpoint,
      token,
      retries,
      progress: quiet ? null : process.stderr,
      log: quiet ? undefined : (msg) => process.stderr.write(`pull-model: ${msg}\n`),
    });
    if (!quiet) {
      const counts = new Map<string, number>();
      for (const f of result.files) counts.set(f.status, (counts.get(f.status) ?? 0) + 1);
      const summary = [...counts].map(([k, v]) => `${v} ${k}`).join(", ");
      process.stderr.write(
        `pull-model: ${repo}@${result.commit.slice(0, 12)}: ${result.files.length} files (${summary}), ` +
          `${(result.bytesDownloaded / 1e6).toFixed(1)} MB downloaded, ` +
          `${result.files.filter((f) => f.check).length}/${result.files.length} checked against the hub's checksums\n`,
      );
    }
    process.stdout.write(`${result.out}\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`pull-model: error: ${(e as Error).message}\n`);
    return 1;
  } finally {
    process.off("SIGINT", onSigint);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await main(process.argv.slice(2));
}
