/**
 * Captures what a command-line main() writes to stdout and stderr (vitest
 * spies; restore them with vi.restoreAllMocks() after each test).
 */
import { vi } from "vitest";

export function captureOutput(): { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(process.stdout, "write").mockImplementation((s) => (out.push(String(s)), true));
  vi.spyOn(process.stderr, "write").mockImplementation((s) => (err.push(String(s)), true));
  return { out, err };
}

/** Runs a command-line main(argv) with its output captured; the spies are restored after. */
export async function runCaptured(main: (argv: string[]) => Promise<number>, argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const c = captureOutput();
  try {
    const code = await main(argv);
    return { code, out: c.out.join(""), err: c.err.join("") };
  } finally {
    vi.restoreAllMocks();
  }
}
