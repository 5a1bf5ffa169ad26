import { afterEach, describe, expect, it, vi } from "vitest";
import { main } from "./bench-build.ts";

describe("bench:build CLI", () => {
  afterEach(() => vi.restoreAllMocks());
  it("prints help, and refuses bad flags with exit 2 before writing anything", async () => {
    const out: string[] = [];
    const err: string[] = [];
    vi.spyOn(process.stdout, "write").mockImplementation((s) => (out.push(String(s)), true));
    vi.spyOn(process.stderr, "write").mockImplementation((s) => (err.push(String(s)), true));
    expect(await main(["--help"])).toBe(0);
    expect(out.join("")).toMatch(/largest shard \+ 1 GB/);
    expect(await main(["--weights", "int2", "--dir", "/nonexistent/never-made"])).toBe(2);
    expect(await main(["--layers", "0", "--dir", "/nonexistent/never-made"])).toBe(2);
    expect(err.join("")).toMatch(/--weights from fp32, fp16, int8, int4/);
  });
});
