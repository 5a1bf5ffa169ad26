/**
 * The command-line scripts' shared flag handling: node:util parseArgs with the
 * usual error/--help handling, required-flag checks and numeric flag values.
 *
 * Usage errors go to stderr as the message, a blank line and the help text;
 * --help goes to stdout. Nothing here exits the process: callers return (or
 * exit with) the code they are given.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";

/** A bad command line: callers print it (usually with the help) and exit 2. */
export class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig["options"]>;
type Parsed<O extends Options, P extends boolean> = ReturnType<typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: P }>>;

export interface ParseCliOptions<P extends boolean> {
  /** Allow positional arguments (default false). */
  allowPositionals?: P;
  /** Put before a parse error's message, e.g. "pull-model: " (default none). */
  prefix?: string;
  /** Exit code for a parse error (default 2). */
  errorExit?: number;
}

/**
 * parseArgs (strict) over argv (undefined: the process's arguments, as
 * parseArgs defaults). On a parse error writes "<prefix><message>\n\n<help>"
 * to stderr and gives { exit: errorExit }; with --help writes help to stdout
 * and gives { exit: 0 }. `options` should declare `help: { type: "boolean", short: "h" }`.
 */
export function parseCli<const O extends Options, P extends boolean = false>(
  argv: string[] | undefined,
  options: O,
  help: string,
  { allowPositionals, prefix = "", errorExit = 2 }: ParseCliOptions<P> = {},
): Parsed<O, P> | { exit: number } {
  let parsed: Parsed<O, P>;
  try {
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: allowPositionals ?? false }) as Parsed<O, P>;
  } catch (e) {
    process.stderr.write(`${prefix}${(e as Error).message}\n\n${help}`);
    return { exit: errorExit };
  }
  if ((parsed.values as Record<string, unknown>).help) {
    process.stdout.write(help);
    return { exit: 0 };
  }
  return parsed;
}

/**
 * A script's main over its own `parse` (which throws UsageError, or gives
 * "help" for --help): a usage error goes to stderr with the help (2), --help
 * to stdout (0); then `run`, whose UsageError goes to stderr alone (2).
 * Other errors are `run`'s to handle or the caller's.
 */
export async function runMain<O>(parse: () => O | "help", help: string, run: (options: O) => Promise<number>): Promise<number> {
  let o: O | "help";
  try {
    o = parse();
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`${e.message}\n\n${help}`);
    return 2;
  }
  if (o === "help") {
    process.stdout.write(help);
    return 0;
  }
  try {
    return await run(o);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`${e.message}\n`);
    return 2;
  }
}

/**
 * A report script's main (the benchmarks): `parse` gives parseCli's { exit }
 * or the options, or throws UsageError (to stderr with the help: 2); then
 * `report`'s text goes to stdout (0). Any other error goes to stderr as
 * "<name>: <message>" (1).
 */
export async function reportMain<O>(name: string, help: string, parse: () => O | { exit: number }, report: (options: O) => Promise<string>): Promise<number> {
  try {
    const o = parse();
    if (typeof o === "object" && o !== null && "exit" in o) return (o as { exit: number }).exit;
    process.stdout.write(await report(o as O));
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${name}: ${err.message}\n\n${help}`);
      return 2;
    }
    process.stderr.write(`${name}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

/** "--a", "--a and --b", "--a, --b and --c" */
function flagList(names: readonly string[]): string {
  const flags = names.map((n) => `--${n}`);
  return flags.length > 1 ? `${flags.slice(0, -1).join(", ")} and ${flags.at(-1)}` : flags.join("");
}

/**
 * True when every named flag is given (non-empty); otherwise writes
 * "--a and --b are required\n\n<help>" (naming all of `names`) to stderr and
 * gives false. Narrows the named values to defined.
 */
export function requireFlags<V extends object, const K extends keyof V & string>(
  values: V,
  names: readonly K[],
  help: string,
): values is V & { [P in K]-?: NonNullable<V[P]> } {
  if (names.every((n) => values[n])) return true;
  process.stderr.write(`${flagList(names)} ${names.length > 1 ? "are" : "is"} required\n\n${help}`);
  return false;
}

export interface NumFlagOptions {
  min?: number;
  max?: number;
  /** Returned when the flag is not given. */
  default?: number;
}

/**
 * The number a flag's raw value gives, or `default` when it was not given.
 * Throws UsageError `--NAME must be a number >= MIN and <= MAX, got "RAW"`
 * (with whichever bounds are set) for a non-finite or out-of-range value.
 */
export function numFlag(name: string, raw: string | undefined, opts: NumFlagOptions & { default: number }): number;
export function numFlag(name: string, raw: string | undefined, opts?: NumFlagOptions): number | undefined;
export function numFlag(name: string, raw: string | undefined, opts: NumFlagOptions = {}): number | undefined {
  return parseNum(name, raw, opts, false);
}

/** numFlag for integers: `--NAME must be an integer >= MIN, got "RAW"`. */
export function intFlag(name: string, raw: string | undefined, opts: NumFlagOptions & { default: number }): number;
export function intFlag(name: string, raw: string | undefined, opts?: NumFlagOptions): number | undefined;
export function intFlag(name: string, raw: string | undefined, opts: NumFlagOptions = {}): number | undefined {
  return parseNum(name, raw, opts, true);
}

function parseNum(name: string, raw: string | undefined, { min, max, default: dflt }: NumFlagOptions, int: boolean): number | undefined {
  if (raw === undefined) return dflt;
  const v = Number(raw);
  if (!Number.isFinite(v) || (int && !Number.isInteger(v)) || (min !== undefined && v < min) || (max !== undefined && v > max)) {
    const range = [min !== undefined ? `>= ${min}` : "", max !== undefined ? `<= ${max}` : ""].filter(Boolean).join(" and ");
    throw new UsageError(`--${name} must be ${int ? "an integer" : "a number"}${range ? ` ${range}` : ""}, got ${JSON.stringify(raw)}`);
  }
  return v;
}
