/** Polling for the cross-process tests: wait until `get` gives a value. */

/**
 * Calls `get` every `everyMs` until it returns something other than
 * undefined, and returns that; throws "timed out waiting for WHAT" after
 * `timeoutMs`.
 */
export async function waitFor<T>(what: string, get: () => T | undefined | Promise<T | undefined>, timeoutMs = 10_000, everyMs = 50): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await get();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
