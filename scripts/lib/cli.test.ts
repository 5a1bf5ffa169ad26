import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { intFlag, numFlag, parseCli, reportMain, requireFlags, runMain, UsageError } from "./cli.ts";

const HELP = "Usage: test [options]\n";
const options = { out: { type: "string" }, n: { type: "string", default: "3" }, help: { type: "boolean", short: "h" } } as const;

let out: string[];
let err: string[];
beforeEach(() => {
  out = [];
  err = [];
  vi.spyOn(process.stdout, "write").mockImplementation((s) => (out.push(String(s)), true));
  vi.spyOn(process.stderr, "write").mockImplementation((s) => (err.push(String(s)), true));
});
afterEach(() => vi.restoreAllMocks());

describe("parseCli", () => {
  it("gives the parsed values, defaults included", () => {
    const r = parseCli(["--out", "x"], options, HELP);
    expect(r).toEqual({ values: { out: "x", n: "3" }, positionals: [] });
    expect(out.concat(err)).toEqual([]);
  });

  it("--help / -h: help on stdout, exit 0", () => {
    expect(parseCli(["--help"], options, HELP)).toEqual({ exit: 0 });
    expect(parseCli(["-h", "--out", "x"], options, HELP)).toEqual({ exit: 0 });
    expect(out).toEqual([HELP, HELP]);
    expect(err).toEqual([]);
  });

  it("a parse error: message, blank line and help on stderr, exit 2 (or errorExit), prefixed when asked", () => {
    expect(parseCli(["--bogus"], options, HELP)).toEqual({ exit: 2 });
    expect(err[0]).toMatch(/^Unknown option '--bogus'.*\n\nUsage: test \[options\]\n$/s);
    expect(parseCli(["pos"], options, HELP, { prefix: "tool: ", errorExit: 1 })).toEqual({ exit: 1 });
    expect(err[1]).toMatch(/^tool: Unexpected argument 'pos'.*\n\nUsage: test/s);
    expect(out).toEqual([]);
  });

  it("a parse error wins over --help", () => {
    expect(parseCli(["--help", "--bogus"], options, HELP)).toEqual({ exit: 2 });
    expect(out).toEqual([]);
  });

  it("positionals when allowed", () => {
    expect(parseCli(["a", "--out", "x", "b"], options, HELP, { allowPositionals: true })).toEqual({ values: { out: "x", n: "3" }, positionals: ["a", "b"] });
  });
});

describe("requireFlags", () => {
  it("true when all are given", () => {
    expect(requireFlags({ a: "1", b: "2" }, ["a", "b"], HELP)).toBe(true);
    expect(err).toEqual([]);
  });

  it("names every required flag, with the help, on stderr", () => {
    expect(requireFlags({ a: "1" } as { a?: string; b?: string }, ["a", "b"], HELP)).toBe(false);
    expect(requireFlags({} as { a?: string; b?: string; c?: string }, ["a", "b", "c"], HELP)).toBe(false);
    expect(requireFlags({ input: "" }, ["input"], HELP)).toBe(false);
    expect(err).toEqual([`--a and --b are required\n\n${HELP}`, `--a, --b and --c are required\n\n${HELP}`, `--input is required\n\n${HELP}`]);
  });
});

describe("intFlag / numFlag", () => {
  it("parse, or give the default when absent", () => {
    expect(intFlag("k", "7", { min: 1 })).toBe(7);
    expect(intFlag("k", undefined, { min: 1 })).toBeUndefined();
    expect(intFlag("k", undefined, { min: 1, default: 16 })).toBe(16);
    expect(numFlag("lr", "2e-4", { min: 0 })).toBe(2e-4);
    expect(numFlag("x", "-1.5")).toBe(-1.5);
  });

  it("throw UsageError in the scripts' message style", () => {
    const msg = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(UsageError);
        return (e as Error).message;
      }
      throw new Error("did not throw");
    };
    expect(msg(() => intFlag("k", "abc", { min: 1 }))).toBe('--k must be an integer >= 1, got "abc"');
    expect(msg(() => intFlag("k", "1.5", { min: 1, default: 3 }))).toBe('--k must be an integer >= 1, got "1.5"');
    expect(msg(() => intFlag("layer", "-1", { min: 0 }))).toBe('--layer must be an integer >= 0, got "-1"');
    expect(msg(() => numFlag("holdout", "0.95", { min: 0, max: 0.9 }))).toBe('--holdout must be a number >= 0 and <= 0.9, got "0.95"');
    expect(msg(() => numFlag("x", "Infinity"))).toBe('--x must be a number, got "Infinity"');
    expect(msg(() => intFlag("n", "5", { max: 4 }))).toBe('--n must be an integer <= 4, got "5"');
  });
});

describe("runMain", () => {
  const parse = (argv: string[]) => () => {
    if (argv.includes("-h")) return "help" as const;
    if (argv.includes("--bad")) throw new UsageError("--bad is not a flag");
    return { n: argv.length };
  };

  it("runs with the parsed options and gives run's code", async () => {
    expect(await runMain(parse(["a", "b"]), HELP, async (o) => o.n + 40)).toBe(42);
    expect(out.concat(err)).toEqual([]);
  });

  it("a usage error from parse: message, blank line and help on stderr, 2; --help: help on stdout, 0; run is not called", async () => {
    const run = vi.fn(async () => 0);
    expect(await runMain(parse(["--bad"]), HELP, run)).toBe(2);
    expect(err).toEqual([`--bad is not a flag\n\n${HELP}`]);
    expect(await runMain(parse(["-h"]), HELP, run)).toBe(0);
    expect(out).toEqual([HELP]);
    expect(run).not.toHaveBeenCalled();
  });

  it("a usage error from run: the message alone on stderr, 2; any other error is the caller's", async () => {
    expect(await runMain(parse([]), HELP, async () => Promise.reject(new UsageError("--limit exceeds the suite")))).toBe(2);
    expect(err).toEqual(["--limit exceeds the suite\n"]);
    await expect(runMain(parse([]), HELP, async () => Promise.reject(new Error("disk full")))).rejects.toThrow("disk full");
    await expect(runMain(() => { throw new Error("bug"); }, HELP, async () => 0)).rejects.toThrow("bug");
  });
});

describe("reportMain", () => {
  it("writes the report to stdout, 0; parseCli's exit code as given; a usage error with the help, 2; any other error prefixed, 1", async () => {
    expect(await reportMain("bench-x", HELP, () => ({ n: 1 }), async (o) => `report ${o.n}\n`)).toBe(0);
    expect(out).toEqual(["report 1\n"]);
    const report = vi.fn(async () => "");
    expect(await reportMain("bench-x", HELP, () => ({ exit: 0 }), report)).toBe(0);
    expect(await reportMain("bench-x", HELP, () => { throw new UsageError("--rounds must be >= 1"); }, report)).toBe(2);
    expect(report).not.toHaveBeenCalled();
    expect(await reportMain("bench-x", HELP, () => ({ n: 1 }), async () => Promise.reject(new UsageError("a 4000-token prompt does not fit")))).toBe(2);
    expect(await reportMain("bench-x", HELP, () => ({ n: 1 }), async () => Promise.reject(new Error("disk full")))).toBe(1);
    expect(err).toEqual([`bench-x: --rounds must be >= 1\n\n${HELP}`, `bench-x: a 4000-token prompt does not fit\n\n${HELP}`, "bench-x: disk full\n"]);
  });
});
