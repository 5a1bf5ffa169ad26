/**
 * The codegen check: passes on the committed tree, fails once a .proto
 * changes without `npm run gen`.
 */
import { spawnSync } from "node:child_process";
import { appendFileSync, cpSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { REPO_ROOT } from "./support/process.ts";

function genCheck(protoDir: string) {
  return spawnSync(process.execPath, ["--import", "tsx", "scripts/gen-check.ts", "--proto", protoDir], { cwd: REPO_ROOT, encoding: "utf8" });
}

describe("codegen check", () => {
  // A copy of proto/ beside a link to node_modules, as buf.gen.yaml expects.
  const tmp = mkdtempSync(join(tmpdir(), "steerguard-proto-"));
  cpSync(join(REPO_ROOT, "proto"), join(tmp, "proto"), { recursive: true });
  symlinkSync(join(REPO_ROOT, "node_modules"), join(tmp, "node_modules"));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it("passes on the committed generated code", () => {
    const res = genCheck(join(tmp, "proto"));
    expect(res.stderr).not.toContain("out of date");
    expect(res.status).toBe(0);
  });

  it("fails, naming the file, when a .proto changed without regeneration", () => {
    appendFileSync(join(tmp, "proto/steerguard/v1/sidecar.proto"), "\nmessage AddedWithoutRegenerating { string x = 1; }\n");
    const res = genCheck(join(tmp, "proto"));
    expect(res.status).toBe(1);
    expect(res.stderr).toContain("proto/gen/steerguard/v1/sidecar.ts");
  });
});
