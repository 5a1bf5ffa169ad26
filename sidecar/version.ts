import { readFileSync } from "node:fs";

/** steerguard's version, from package.json (reported by Info). */
export const VERSION: string = JSON.parse(
  readFileSync(new URL("../package.json", import.meta.url), "utf8"),
).version;
