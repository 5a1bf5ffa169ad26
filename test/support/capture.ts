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
