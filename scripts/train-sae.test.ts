import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it, vi } from "vitest";
import { main } from "./train-sae.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const run = (args: string[]) =>
  spawnSync(process.execPath, ["--import", "tsx", "scripts/train-sae.ts", ...args], { cwd: ROOT, encoding: "utf8", timeout: 30_000 });

describe("train-sae CLI (real process)", () => {
  it("--help prints usage and exits 0", () => {
    const r = run(["--help"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("Usage: npm run train-sae -- --model DIR --layer L");
    expect(r.stdout).toContain("--sample-stories N");
  });

  it("a bad flag exits 2", () => {
    const bogus = run(["--bogus"]);
    expect(bogus.status).toBe(2);
    expect(bogus.stderr).toContain("--bogus");
  });
});

describe("train-sae CLI (in process)", () => {
  afterEach(() => vi.restoreAllMocks());

  it("a bad value or a missing required flag exits 2", async () => {
    const err: string[] = [];
    vi.spyOn(process.stderr, "write").mockImplementation((s) => (err.push(String(s)), true));
    expect(await main(["--model", "m", "--layer", "1", "--out", "o", "--input", "x.txt", "--k", "abc"])).toBe(2);
    expect(err.join("")).toContain('--k must be an integer >= 1, got "abc"');
    expect(await main(["--layer", "1"])).toBe(2);
    expect(err.join("")).toContain("--model, --layer and --out are required");
    expect(await main(["--model", "m", "--layer", "1", "--out", "o"])).toBe(2);
    expect(err.join("")).toContain("give --input FILES and/or --sample-stories N");
    expect(await main(["--model", "m", "--layer", "1", "--out", "o", "--input", "x", "--width", "8", "--k", "9"])).toBe(2);
    expect(await main(["--model", "m", "--layer", "1", "--out", "o", "--input", "x", "--holdout", "0.95"])).toBe(2);
  });
});
